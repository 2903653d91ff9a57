using System.Collections.Immutable;
using System.Reflection;
using System.Text.Json.Nodes;
using FreeScoutRules.Actions;
using FreeScoutRules.Facts;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using NRules.Fluent.Dsl;
using NRules.RuleModel;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// The Roslyn scripting options every rule file compiles with: the references and imports a rule
/// author gets for free, <c>#load</c> resolved relative to the including file, and no <c>#r</c>
/// (a rule file must not pull arbitrary assemblies into the engine).
/// </summary>
internal static class ScriptCompilationOptions
{
    /// <summary>Namespaces imported into every rule file.</summary>
    public static readonly ImmutableArray<string> Imports =
    [
        "System", "System.Linq", "System.Collections.Generic", "System.Text.Json.Nodes",
        "NRules.Fluent.Dsl", "FreeScoutRules.FreeScout", "FreeScoutRules.Facts", "FreeScoutRules.Actions",
        "FreeScoutRules.Timers", "FreeScoutRules.Ops",
    ];

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(LoadReferences);

    /// <summary>Namespaces imported into every action script (<c>plugins/*.csx</c>).</summary>
    public static readonly ImmutableArray<string> ActionImports =
    [
        "System", "System.Linq", "System.Collections.Generic", "System.Net.Http", "System.Net.Http.Json", "System.Text.Json",
        "System.Threading", "System.Threading.Tasks", "FluentValidation", "Microsoft.Extensions.Logging",
        "FreeScoutRules.FreeScout", "FreeScoutRules.Actions",
    ];

    private static readonly Lazy<ImmutableArray<MetadataReference>> ActionReferences = new(() =>
    [
        .. References.Value,
        .. new[]
        {
            typeof(FluentValidation.AbstractValidator<>).Assembly, typeof(Microsoft.Extensions.Logging.ILogger).Assembly,
            typeof(IHttpClientFactory).Assembly, typeof(HttpClient).Assembly, typeof(System.Net.Http.Json.JsonContent).Assembly,
            Assembly.Load(new AssemblyName("System.Net.Primitives")), Assembly.Load(new AssemblyName("System.Threading")),
        }.Where(a => a.Location.Length > 0).Select(a => (MetadataReference)MetadataReference.CreateFromFile(a.Location)),
    ]);

    /// <summary>The options of an action script: the rules' references plus HTTP, logging and validation; I/O is its job.</summary>
    public static ScriptOptions ForAction(string filePath) =>
        For(filePath).WithReferences(ActionReferences.Value).WithImports(ActionImports);

    public static ScriptOptions For(string filePath) =>
        ScriptOptions.Default
            .WithReferences(References.Value)
            .WithImports(Imports)
            .WithFilePath(filePath)
            .WithFileEncoding(System.Text.Encoding.UTF8)
            // #load resolves against the including file's path; a relative one (check --rules rules) is relative to the
            // current directory, so that is the base of what is still relative then (not the file's folder: rules/rules/lib).
            .WithSourceResolver(new SourceFileResolver(ImmutableArray<string>.Empty, Directory.GetCurrentDirectory()))
            .WithMetadataResolver(NoMetadataResolver.Instance)
            .WithOptimizationLevel(OptimizationLevel.Debug)
            .WithAllowUnsafe(false)
            .WithCheckOverflow(false);

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        Assembly[] anchors =
        [
            typeof(object).Assembly, typeof(Enumerable).Assembly, typeof(List<>).Assembly,
            typeof(System.Linq.Expressions.Expression).Assembly, typeof(JsonObject).Assembly,
            typeof(Rule).Assembly, typeof(IContext).Assembly, typeof(Delivery).Assembly, typeof(ActionIntent).Assembly,
        ];
        var names = new[] { "System.Runtime", "netstandard", "System.Collections", "System.Linq", "System.Text.Json" };
        var assemblies = anchors.Concat(names.Select(n => Assembly.Load(new AssemblyName(n))));
        return [.. assemblies.Distinct().Where(a => a.Location.Length > 0).Select(a => (MetadataReference)MetadataReference.CreateFromFile(a.Location))];
    }

    /// <summary>Refuses every <c>#r</c>: Roslyn then reports CS0006 at the directive.</summary>
    private sealed class NoMetadataResolver : MetadataReferenceResolver
    {
        public static readonly NoMetadataResolver Instance = new();

        public override bool Equals(object? other) => ReferenceEquals(this, other);

        public override int GetHashCode() => 0;

        public override ImmutableArray<PortableExecutableReference> ResolveReference(
            string reference, string? baseFilePath, MetadataReferenceProperties properties) => [];
    }
}
