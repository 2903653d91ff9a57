using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using NRules.Fluent;
using NRules.Fluent.Dsl;
using NRules.RuleModel;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// Compiles a rules folder into a <see cref="RuleSetGeneration"/>. Every <c>*.csx</c> directly in the
/// folder is a rule file; files in subfolders are helpers, compiled only where a rule file
/// <c>#load</c>s them. Each file is compiled with Roslyn scripting and emitted into one collectible
/// load context per generation (never <c>CSharpScript.RunAsync</c>, whose assemblies never unload).
/// Every public non-abstract <see cref="Rule"/> class in a file becomes a rule. The checks across files
/// (FSR0009, FSR0010: timer names) run once every file compiled. Stateless and thread-safe.
/// </summary>
internal static class RuleSetCompiler
{
    /// <summary>The start of every rule assembly's name: frames of rule files' own code are recognised by it.</summary>
    public const string AssemblyPrefix = "rules.";

    /// <summary>
    /// How long a rule class's declaration (its constructor, a concise rule's <c>On.…</c>, its <c>Define()</c>) may run
    /// when a generation is loaded before it is reported (FSR0101) and the load goes on without it. Declaring builds
    /// expression trees in microseconds; the margin is for a busy machine's first, unjitted load.
    /// </summary>
    public static readonly TimeSpan DefineTimeout = TimeSpan.FromSeconds(10);

    /// <param name="rulesDirectory">The rules folder.</param>
    /// <param name="cache">Compiled files kept across compiles and restarts, or <c>null</c> to compile everything.</param>
    /// <exception cref="RuleCompilationException">Any error in any file; all of them are listed.</exception>
    /// <param name="severities">Severities of the engine's own diagnostics; <see cref="RuleDiagnosticSeverities.Default"/> when <c>null</c>.</param>
    /// <param name="checks">The actions, plugin configuration and secrets the rules are checked against (FSR0003, FSR0007, FSR0008).</param>
    /// <param name="folderOptional">
    /// The folder is the default one, not named by the user: when it does not exist the built-in rules run alone (a
    /// warning says where to put ops rules). A folder named explicitly must exist.
    /// </param>
    /// <param name="defineTimeout">How long one rule's declaration may run at load; <see cref="DefineTimeout"/> when <c>null</c>.</param>
    public static RuleSetGeneration Compile(
        string rulesDirectory, RuleCompileCache? cache = null, RuleDiagnosticSeverities? severities = null, RuleChecks? checks = null,
        bool folderOptional = false, TimeSpan? defineTimeout = null)
    {
        severities ??= RuleDiagnosticSeverities.Default;
        // Hash before reading: a file changed meanwhile then differs from this hash, and the
        // next reload compiles it, rather than being taken for what was compiled.
        var hash = HashDirectory(rulesDirectory);
        var paths = new RulePaths(rulesDirectory);
        var diagnostics = new List<RuleDiagnostic>();
        var sources = ReadRuleFiles(rulesDirectory, diagnostics, severities, folderOptional);
        var images = new List<(string File, byte[] Image)>();
        var helpersHash = cache is null
            ? ""
            // The folder's full path too: an image carries its files' paths (its embedded PDB names them when a rule
            // fails), so a copy of the same files elsewhere compiles its own.
            : HashHelpers(rulesDirectory) + severities + (checks ?? RuleChecks.None).Key + Path.GetFullPath(rulesDirectory);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var timers = new List<TimerNameUses>(sources.Count);
        var cacheHits = 0;
        foreach (var (file, code) in sources)
        {
            var key = cache is null ? null : RuleCompileCache.KeyOf(Path.GetRelativePath(rulesDirectory, file), code, helpersHash);
            byte[]? image;
            if (key is not null && cache!.TryGet(key) is var (cached, warnings, uses))
            {
                image = cached;
                diagnostics.AddRange(warnings);
                timers.Add(uses);
                cacheHits++;
            }
            else
            {
                var before = diagnostics.Count;
                (image, var compiledUses) = CompileFile(file, code, diagnostics, severities, checks ?? RuleChecks.None);
                timers.Add(compiledUses);
                if (image is not null && key is not null && !diagnostics.Skip(before).Any(d => d.IsError))
                {
                    cache!.Put(key, image, diagnostics[before..], compiledUses);
                }
            }

            if (image is not null)
            {
                images.Add((file, image));
                if (key is not null)
                {
                    keys.Add(key);
                }
            }
        }

        if (!diagnostics.Any(d => d.IsError))
        {
            // Only over a whole rule set: a file that did not compile would hide its timers.
            diagnostics.AddRange(TimerNameAnalyzer.Check(timers, severities));
        }

        // The files that compiled are defined even when another did not: their declarations' errors (FSR0101, FSR0102)
        // show in the same pass. Nothing of such a set is put in force.
        var context = new RuleLoadContext($"rules-{hash[..12]}");
        try
        {
            var (definitions, rules) = Define(context, images, sources, diagnostics, defineTimeout ?? DefineTimeout, severities, checks ?? RuleChecks.None);
            ThrowIfErrors(diagnostics, paths);
            var factory = CompileSessionFactory(definitions, rules, diagnostics);
            ThrowIfErrors(diagnostics, paths);
            cache?.Retain(keys);
            Show(diagnostics, paths);
            return new RuleSetGeneration(factory!, rules, diagnostics, hash, context) { CacheHits = cacheHits, Paths = paths, ChecksKey = (checks ?? RuleChecks.None).Key };
        }
        catch
        {
            context.Unload();
            throw;
        }
    }

    /// <summary>
    /// Compiles a small rule once and throws it away, so the compiler's code is loaded and jitted
    /// before the first real reload (a server that started from the compile cache never ran it).
    /// </summary>
    public static void WarmUp()
    {
        var diagnostics = new List<RuleDiagnostic>();
        CompileFile(
            Path.Combine(Path.GetTempPath(), "warm-up.csx"),
            "public class WarmUp : Rule { public override void Define() { StatusChanged c = default!; When().Match(() => c, x => x.To == \"closed\"); Then().Do(ctx => ctx.Enqueue(\"x\", new { n = c.Number })); } }",
            diagnostics,
            RuleDiagnosticSeverities.Default);
    }

    private static List<(string File, string Code)> ReadRuleFiles(
        string rulesDirectory, List<RuleDiagnostic> diagnostics, RuleDiagnosticSeverities severities, bool folderOptional)
    {
        string[] files = [];
        if (Directory.Exists(rulesDirectory))
        {
            files = Directory.GetFiles(rulesDirectory, "*.csx", SearchOption.TopDirectoryOnly);
            Array.Sort(files, StringComparer.Ordinal);
            if (files.Length == 0)
            {
                // The built-in status rules are always in force: an empty folder is a setup to finish, not an error.
                diagnostics.Add(RuleDiagnostic.Warning(rulesDirectory, EngineDiagnosticIds.NoRules,
                    $"The rules folder holds no .csx rule file: only the built-in status rules are in force. Put ops rules in {Path.GetFullPath(rulesDirectory)}; they load without a restart."));
            }
        }
        else if (folderOptional)
        {
            diagnostics.Add(RuleDiagnostic.Warning(rulesDirectory, EngineDiagnosticIds.NoRules,
                $"There is no rules folder at {Path.GetFullPath(rulesDirectory)}: only the built-in status rules are in force. Create it and put ops rules (*.csx) in it; they load without a restart (or name another folder with --rules, Rules:Directory)."));
        }
        else
        {
            throw new RuleCompilationException(
                [RuleDiagnostic.Error(rulesDirectory, EngineDiagnosticIds.NoRules, $"The rules folder {Path.GetFullPath(rulesDirectory)} does not exist (--rules, Rules:Directory).")]);
        }

        var sources = new List<(string File, string Code)>(files.Length);
        foreach (var file in files)
        {
            try
            {
                sources.Add((file, File.ReadAllText(file, Encoding.UTF8)));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                diagnostics.Add(RuleDiagnostic.Error(file, EngineDiagnosticIds.UnreadableFile, ex.Message));
            }
        }

        BuiltInRules.AddTo(sources, diagnostics, severities);
        return sources;
    }

    /// <returns>The file's image, <c>null</c> when it has an error; and its timer names.</returns>
    private static (byte[]? Image, TimerNameUses Timers) CompileFile(
        string file, string code, List<RuleDiagnostic> diagnostics, RuleDiagnosticSeverities severities, RuleChecks? checks = null)
    {
        var compilation = CSharpScript.Create(code, ScriptCompilationOptions.For(file)).GetCompilation()
            .WithAssemblyName($"{AssemblyPrefix}{Path.GetFileNameWithoutExtension(file).Replace(':', '-')}.{Guid.NewGuid():N}");
        using var image = new MemoryStream();
        // The PDB embedded in the image: a rule that fails names the line that threw, in its file or a #loaded helper.
        var result = compilation.Emit(image, options: new Microsoft.CodeAnalysis.Emit.EmitOptions(debugInformationFormat: Microsoft.CodeAnalysis.Emit.DebugInformationFormat.Embedded));
        diagnostics.AddRange(result.Diagnostics
            .Where(d => d.Severity is DiagnosticSeverity.Error or DiagnosticSeverity.Warning && !d.IsSuppressed)
            .Select(d => ToRuleDiagnostic(d, MemberMeant(compilation, d))));
        if (!result.Success)
        {
            // The engine's own checks too, as far as the file binds: every mistake in one pass, not the compiler's first.
            diagnostics.AddRange(AnalyzeBroken(compilation, severities, checks ?? RuleChecks.None));
            return (null, TimerNameUses.None);
        }

        var timers = new TimerNameCollector(compilation);
        var own = RuleFileAnalyzer.Analyze(compilation, severities, checks ?? RuleChecks.None, timers);
        diagnostics.AddRange(own);
        return (own.Any(d => d.IsError) ? null : image.ToArray(), timers.Uses);
    }

    /// <summary>
    /// The engine's per-file checks on a file that does not compile: what binds is checked (an unknown event or status, an
    /// action no plugin provides, beside a misspelt method), what does not is the compiler's. Best effort: a check that
    /// cannot cope with the broken code reports nothing rather than hiding the compiler's errors.
    /// </summary>
    private static List<RuleDiagnostic> AnalyzeBroken(Compilation compilation, RuleDiagnosticSeverities severities, RuleChecks checks)
    {
        try
        {
            return RuleFileAnalyzer.Analyze(compilation, severities, checks);
        }
        catch (Exception ex) when (ex is InvalidOperationException or NullReferenceException or ArgumentException or InvalidCastException)
        {
            return [];
        }
    }

    /// <summary>
    /// Instantiates rule classes and has NRules define them (their constructors, a concise rule's declaration, their
    /// <c>Define()</c>: the only code of a rule file that runs at load), one after the other on a thread of its own,
    /// waiting at most a time limit for each: a declaration that never returns is reported instead of hanging the load
    /// (or the server's reload). Such a thread cannot be stopped: it is a background thread, left to itself, and the
    /// next rule gets a new thread. Not thread-safe: one compile uses one.
    /// </summary>
    private sealed class ContainedDefinitions(TimeSpan timeout) : IDisposable
    {
        private readonly RuleDefinitionFactory _factory = new();
        private BlockingCollection<(Type Type, TaskCompletionSource<IRuleDefinition> Done)>? _work;

        /// <returns>The definition; else the exception it threw, or neither when it did not return in time.</returns>
        public (IRuleDefinition? Definition, Exception? Error) Define(Type type)
        {
            _work ??= Start();
            var done = new TaskCompletionSource<IRuleDefinition>(TaskCreationOptions.RunContinuationsAsynchronously);
            _work.Add((type, done));
            try
            {
                if (done.Task.Wait(timeout))
                {
                    return (done.Task.Result, null);
                }
            }
            catch (AggregateException ex) when (ex.InnerException is { } error)
            {
                return (null, error is System.Reflection.TargetInvocationException or RuleDefinitionException ? error.InnerException ?? error : error);
            }

            // Stuck: its thread is left to the rule; the rest go to a new one.
            _work.CompleteAdding();
            _work = null;
            return (null, null);
        }

        public void Dispose() => _work?.CompleteAdding();

        private BlockingCollection<(Type, TaskCompletionSource<IRuleDefinition>)> Start()
        {
            var work = new BlockingCollection<(Type Type, TaskCompletionSource<IRuleDefinition> Done)>();
            new Thread(() =>
            {
                foreach (var (type, done) in work.GetConsumingEnumerable())
                {
                    try
                    {
                        done.SetResult(_factory.Create((Rule)Activator.CreateInstance(type, nonPublic: true)!));
                    }
                    catch (Exception ex)
                    {
                        done.SetException(ex);
                    }
                }

                work.Dispose();
            })
            {
                IsBackground = true,
                Name = "FreeScoutRules rule definitions",
            }.Start();
            return work;
        }
    }

    private static (List<IRuleDefinition> Definitions, List<CompiledRule> Rules) Define(
        RuleLoadContext context, List<(string File, byte[] Image)> images, List<(string File, string Code)> sources, List<RuleDiagnostic> diagnostics,
        TimeSpan defineTimeout, RuleDiagnosticSeverities severities, RuleChecks checks)
    {
        using var contained = new ContainedDefinitions(defineTimeout);
        var definitions = new List<IRuleDefinition>();
        var rules = new List<CompiledRule>();
        var declaredAt = new Dictionary<CompiledRule, (int Line, int Column)>(ReferenceEqualityComparer.Instance);
        foreach (var (file, image) in images)
        {
            var declarations = ClassDeclarations(sources.First(s => s.File == file).Code);
            using var stream = new MemoryStream(image, writable: false);
            var assembly = context.LoadFromStream(stream);
            foreach (var type in assembly.GetTypes().Where(IsRuleType).OrderBy(t => t.FullName, StringComparer.Ordinal))
            {
                var declared = declarations.TryGetValue(type.Name, out var at) ? at : (Line: 1, Column: 1);
                var (definition, error) = contained.Define(type);
                if (definition is null)
                {
                    // Where the rule's own code threw (a concise rule's declaration, a line of Define), else its class.
                    var frame = error is null ? null : RuleFrames.FirstOf(error);
                    var (line, column) = frame is { File: not null } ? (frame.Line, frame.Column) : declared;
                    diagnostics.Add(RuleDiagnostic.Error(
                        frame?.File ?? file, EngineDiagnosticIds.RuleDefinitionFailed,
                        error is null
                            ? $"Rule '{type.Name}' could not be defined: its declaration (constructor or Define()) did not return within {defineTimeout.TotalSeconds:0.###} s. A rule's declaration must only declare; the load stops waiting for it, and its thread runs on until the process restarts."
                            : $"Rule '{type.Name}' could not be defined: {error.GetType().Name}: {error.Message}",
                        line,
                        column));
                    continue;
                }

                var name = definition.Name == type.FullName ? type.Name : definition.Name;
                definitions.Add(name == definition.Name ? definition : new RenamedRuleDefinition(definition, name));
                var rule = new CompiledRule(name, file)
                {
                    FactTypes = FactTypesOf(definition.LeftHandSide),
                    Location = declarations.ContainsKey(type.Name) ? $"{file}({declared.Line},{declared.Column})" : file,
                    BuiltIn = BuiltInRules.IsStatusRulesFile(file),
                    Settings = MatchesAny(definition.LeftHandSide, typeof(FreeScoutRules.Facts.OwnWrite)) ? ["Dispatch:BotUserId"] : [],
                };
                rules.Add(rule);
                declaredAt[rule] = declared;
                if (!rule.BuiltIn && checks.BotUserIdSet == false && rule.Settings.Contains("Dispatch:BotUserId")
                    && severities.Of(EngineDiagnosticIds.BotUserIdNotSet) is { } severity)
                {
                    diagnostics.Add(new RuleDiagnostic(
                        file, declared.Line, declared.Column, severity, EngineDiagnosticIds.BotUserIdNotSet,
                        $"Rule '{name}' excludes our own writes (.NotByBot(), Not<OwnWrite>()), but Dispatch:BotUserId is not set: no OwnWrite fact is "
                        + "ever inserted, so it also fires on what our own actions wrote to FreeScout. Set Dispatch:BotUserId (or FreeScout:BotUserId) "
                        + "to the id of the FreeScout user the actions write as."));
                }
            }
        }

        foreach (var duplicate in rules.GroupBy(r => r.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            // At the class of the later one (its [Name], if any, is on the lines just above).
            var (line, column) = declaredAt[duplicate.Last()];
            diagnostics.Add(RuleDiagnostic.Error(
                duplicate.Last().File, EngineDiagnosticIds.DuplicateRuleName,
                $"Two rules are named '{duplicate.Key}' (in {string.Join(" and ", duplicate.Select(r => Path.GetFileName(r.File)))}); rule names must be unique.",
                line,
                column));
        }

        return (definitions, rules);
    }

    /// <summary>Where each class of a rule file is declared (1-based line and column), by class name.</summary>
    private static Dictionary<string, (int Line, int Column)> ClassDeclarations(string code)
    {
        var tree = Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(
            code, Microsoft.CodeAnalysis.CSharp.CSharpParseOptions.Default.WithKind(SourceCodeKind.Script));
        var declarations = new Dictionary<string, (int, int)>(StringComparer.Ordinal);
        foreach (var declaration in tree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax>())
        {
            var start = declaration.Identifier.GetLocation().GetLineSpan().StartLinePosition;
            declarations.TryAdd(declaration.Identifier.ValueText, (start.Line + 1, start.Character + 1));
        }

        return declarations;
    }

    private static NRules.ISessionFactory? CompileSessionFactory(
        List<IRuleDefinition> definitions, List<CompiledRule> rules, List<RuleDiagnostic> diagnostics)
    {
        try
        {
            var expressions = new ProbingExpressionCompiler();
            var compiler = new NRules.RuleCompiler { ExpressionCompiler = expressions };
            return compiler.Compile(expressions.Track(definitions));
        }
        catch (NRules.RuleCompilationException ex)
        {
            var file = rules.FirstOrDefault(r => r.Name == ex.RuleName)?.File ?? "(rules)";
            diagnostics.Add(RuleDiagnostic.Error(
                file, EngineDiagnosticIds.RuleNotCompilable,
                $"Rule '{ex.RuleName}' could not be compiled by NRules: {ex.InnerException?.Message ?? ex.Message}"));
            return null;
        }
    }

    /// <summary>True when any pattern of the rule (Not and Exists included) matches <paramref name="type"/>.</summary>
    private static bool MatchesAny(RuleElement element, Type type) => element switch
    {
        PatternElement pattern => pattern.ValueType == type || (pattern.Source is { } source && MatchesAny(source, type)),
        AggregateElement aggregate => MatchesAny(aggregate.Source, type),
        ExistsElement exists => MatchesAny(exists.Source, type),
        NotElement not => MatchesAny(not.Source, type),
        ForAllElement forAll => MatchesAny(forAll.BasePattern, type) || forAll.Patterns.Any(p => MatchesAny(p, type)),
        GroupElement group => group.ChildElements.Any(c => MatchesAny(c, type)),
        _ => false,
    };

    /// <summary>The fact types a rule needs present (Not patterns excluded: they need an absence).</summary>
    private static List<Type> FactTypesOf(RuleElement element)
    {
        var types = new List<Type>();
        void Walk(RuleElement? e)
        {
            switch (e)
            {
                case PatternElement pattern:
                    if (pattern.Source is null && !types.Contains(pattern.ValueType))
                    {
                        types.Add(pattern.ValueType);
                    }

                    Walk(pattern.Source);
                    break;
                case AggregateElement aggregate:
                    Walk(aggregate.Source);
                    break;
                case ExistsElement exists:
                    Walk(exists.Source);
                    break;
                case GroupElement group:
                    foreach (var child in group.ChildElements)
                    {
                        Walk(child);
                    }

                    break;
            }
        }

        Walk(element);
        return types;
    }

    private static bool IsRuleType(Type type) =>
        typeof(Rule).IsAssignableFrom(type) && !type.IsAbstract && !type.IsGenericTypeDefinition
        && (type.IsPublic || type.IsNestedPublic);

    private static RuleDiagnostic ToRuleDiagnostic(Diagnostic diagnostic, string suggestion = "")
    {
        var span = diagnostic.Location.GetMappedLineSpan();
        return new RuleDiagnostic(
            span.IsValid ? span.Path : "(rules)",
            span.StartLinePosition.Line + 1,
            span.StartLinePosition.Character + 1,
            diagnostic.Severity == DiagnosticSeverity.Error ? RuleDiagnosticSeverity.Error : RuleDiagnosticSeverity.Warning,
            diagnostic.Id,
            Shortened(diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), suggestion) + suggestion);
    }

    /// <summary>With a suggestion, CS1061's "and no accessible extension method … (are you missing a using directive …?)" goes: it would mislead.</summary>
    private static string Shortened(string message, string suggestion) =>
        suggestion.Length > 0 && message.IndexOf(" and no accessible extension method", StringComparison.Ordinal) is > 0 and var cut ? message[..cut] : message;

    /// <summary>
    /// For a member the compiler does not find on one of the engine's types (CS1061 <c>.SetTag(</c> on a concise rule's
    /// declaration, CS0117 <c>On.Clsoe()</c>): "; did you mean 'SetTags'?" for the closest member it has, as the engine's
    /// own diagnostics suggest; else nothing.
    /// </summary>
    private static string MemberMeant(Compilation compilation, Diagnostic diagnostic)
    {
        if (diagnostic.Id is not ("CS1061" or "CS0117") || diagnostic.Location.SourceTree is not { } tree
            || tree.GetRoot().FindNode(diagnostic.Location.SourceSpan) is not SimpleNameSyntax name
            || name.Parent is not MemberAccessExpressionSyntax access || access.Name != name)
        {
            return "";
        }

        var model = compilation.GetSemanticModel(tree);
        var type = model.GetTypeInfo(access.Expression).Type ?? model.GetSymbolInfo(access.Expression).Symbol as ITypeSymbol;
        if (type?.ContainingNamespace?.ToDisplayString().StartsWith("FreeScoutRules", StringComparison.Ordinal) != true)
        {
            return "";
        }

        var members = new List<string>();
        for (var t = type; t is not null; t = t.BaseType)
        {
            members.AddRange(t.GetMembers()
                .Where(m => m.DeclaredAccessibility == Accessibility.Public && m.CanBeReferencedByName && m is IMethodSymbol or IPropertySymbol or IFieldSymbol)
                .Select(m => m.Name));
        }

        return RuleFileAnalyzer.Suggest(name.Identifier.ValueText, [.. members.Distinct(StringComparer.Ordinal)]);
    }

    private static void ThrowIfErrors(List<RuleDiagnostic> diagnostics, RulePaths paths)
    {
        if (diagnostics.Any(d => d.IsError))
        {
            Show(diagnostics, paths);
            // Errors first (each group in file order): what stopped the load leads, in the CLI, the log and the admin API.
            throw new RuleCompilationException([.. diagnostics.OrderBy(d => d.IsError ? 0 : 1)]);
        }
    }

    /// <summary>Every diagnostic's file as the folder was named (<see cref="RulePaths"/>), in place.</summary>
    private static void Show(List<RuleDiagnostic> diagnostics, RulePaths paths)
    {
        for (var i = 0; i < diagnostics.Count; i++)
        {
            diagnostics[i] = diagnostics[i] with { File = paths.Display(diagnostics[i].File) };
        }
    }

    /// <summary>SHA-256 over the helper scripts (<c>.csx</c> in subfolders): any change to one invalidates every cached file.</summary>
    private static string HashHelpers(string rulesDirectory)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        string[] folders = Directory.Exists(rulesDirectory) ? Directory.GetDirectories(rulesDirectory) : [];
        Array.Sort(folders, StringComparer.Ordinal);
        foreach (var folder in folders)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(HashDirectory(folder) + Path.GetFileName(folder)));
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// SHA-256 over every <c>.csx</c> under the folder, helpers in subfolders included (their relative
    /// paths and contents), hex. Equal hashes mean equal rule sets; <c>""</c> when the folder is gone.
    /// </summary>
    public static string HashDirectory(string rulesDirectory)
    {
        // No folder: the built-in rules alone (a default folder not created yet), hashed as such.
        string[] files = Directory.Exists(rulesDirectory) ? Directory.GetFiles(rulesDirectory, "*.csx", SearchOption.AllDirectories) : [];
        Array.Sort(files, StringComparer.Ordinal);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes($"built-in\n{BuiltInRules.Source}\n")); // a new engine's built-in rules are a new generation
        foreach (var file in files)
        {
            try
            {
                var content = File.ReadAllBytes(file);
                sha.AppendData(Encoding.UTF8.GetBytes($"{Path.GetRelativePath(rulesDirectory, file)}\n{content.Length}\n"));
                sha.AppendData(content);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                sha.AppendData(Encoding.UTF8.GetBytes($"{file}: unreadable\n"));
            }
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
