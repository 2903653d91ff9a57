using System.CommandLine;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Host.Settings;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Host.Cli;

/// <summary>Options that several verbs share, described once, and the settings they read like <c>serve</c>.</summary>
internal static class CommonOptions
{
    /// <summary><c>--severity ID=LEVEL</c>, repeatable: the severity of one of the engine's diagnostics (<c>Rules:Severity:ID</c>).</summary>
    public static Option<string[]> Severity() => new("--severity")
    {
        Description = "Severity of an engine diagnostic, e.g. --severity FSR0002=error (error, warning or none); repeatable. Same as Rules:Severity:FSR0002.",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary><c>--events FILE</c>, required: recorded deliveries, JSON Lines.</summary>
    public static Option<FileInfo> Events() => new("--events")
    {
        Description = "JSON Lines of deliveries, one a line: {\"event\": \"<X-FreeScout-Event>\", \"body\": <webhook body>, \"at\": \"<arrival, optional>\"}, and {\"clock\": \"<time>\"} lines that move time on (timers due by then fire); - reads standard input.",
        Required = true,
    };

    /// <summary>Opens an <c>--events</c> file (<c>-</c>: standard input), or says why not on <paramref name="error"/> and returns <c>null</c>.</summary>
    public static async Task<TextReader?> OpenEventsAsync(FileInfo eventsFile, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(eventsFile);
        try
        {
            return eventsFile.ToString() == "-" ? Console.In : new StreamReader(eventsFile.FullName);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"{eventsFile}: cannot read: {ex.Message}");
            return null;
        }
    }

    /// <summary><c>--rules DIR</c>: the rules folder (<c>Rules:Directory</c>, default <c>./rules</c>).</summary>
    public static Option<DirectoryInfo> RulesFolder() => new("--rules")
    {
        Description = "The rules folder: every *.csx directly in it is a rule file; subfolders hold #load helpers. Default: Rules:Directory (./rules).",
    };

    /// <summary><c>--plugins DIR</c>: the server's plugins folder, which the verb loads as the server does.</summary>
    public static Option<DirectoryInfo> PluginsFolder(string description) => new("--plugins") { Description = description };

    /// <summary>
    /// Loads the built-in actions and the plugins in <paramref name="directory"/> as the server does, printing each plugin
    /// that did not load on <paramref name="error"/> (<c>path: error FSR0200: reason</c>, see <see cref="PluginSet.Problems"/>).
    /// A folder that does not exist leaves the built-in actions, as the server runs while its plugins folder does not
    /// exist, and says so (a mistyped folder shows, and the actions of its plugins draw FSR0003).
    /// </summary>
    public static async Task<PluginSet> LoadPluginsAsync(DirectoryInfo directory, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!directory.Exists)
        {
            await error.WriteLineAsync(
                $"--plugins {directory}: there is no such folder: checked against the built-in actions alone, as the server runs while its plugins folder does not exist (give the folder the server loads its action plugins from).");
        }

        var plugins = PluginLoader.Load(PluginLoader.BuiltInDirectory, directory.ToString());
        foreach (var problem in plugins.Problems)
        {
            await error.WriteLineAsync($"{problem.Path}: error {EngineDiagnosticIds.PluginNotLoaded}: {problem.Reason}");
        }

        return plugins;
    }

    /// <summary><c>--data-dir DIR</c>: a server's data directory (<c>Storage:DataDirectory</c>).</summary>
    public static Option<DirectoryInfo> DataDirectory(string description, bool required = false) => new("--data-dir")
    {
        Description = description + " Default: Storage:DataDirectory (./data).",
        Required = required,
    };

    /// <summary>
    /// The flags a verb was given, in configuration keys. A malformed <c>--severity</c> is reported on
    /// <paramref name="error"/> and yields <c>null</c>.
    /// </summary>
    public static Dictionary<string, string?>? Flags(DirectoryInfo? rules, DirectoryInfo? dataDirectory, string[]? severities, TextWriter error)
    {
        var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (rules is not null)
        {
            flags["Rules:Directory"] = rules.ToString();
        }

        if (dataDirectory is not null)
        {
            flags["Storage:DataDirectory"] = dataDirectory.ToString();
        }

        foreach (var value in severities ?? [])
        {
            var parts = value.Split('=', 2);
            if (parts.Length != 2)
            {
                error.WriteLine($"--severity takes ID=LEVEL, e.g. FSR0002=error, not '{value}'.");
                return null;
            }

            flags[$"Rules:Severity:{parts[0].Trim()}"] = parts[1];
        }

        return flags;
    }

    /// <summary>
    /// Opens a server's store for reading (its <c>--data-dir</c>, or its PostgreSQL database with
    /// <c>Storage:Provider=postgres</c>), through the store's own entry point, or says on <paramref name="error"/> why not
    /// and returns <c>null</c> (no database there, unreachable, or another schema version).
    /// </summary>
    public static StoreReader? ServerStore(EngineSettings settings, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Storage.IsPostgres
            ? Engine.Storage.Postgres.PostgresStorageModule.OpenForReadingAsync(settings.Postgres, error).GetAwaiter().GetResult()
            : SqliteStorageModule.OpenForReading(settings.Sqlite, error);
    }

    /// <summary>
    /// Where the CLI keeps compiled rule files between runs: a cache per user (the server's format, keyed
    /// by source, helpers, settings and engine build; never the server's own, which it prunes to the
    /// generation in force). A warm <c>check</c> or <c>test</c> then needs no compiler.
    /// </summary>
    public static RuleCompileCache CompileCache(EngineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new RuleCompileCache(Path.Combine(
            Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "freescout-rules", "rules-cache"));
    }

    /// <summary>
    /// Reads the settings as <c>serve</c> does and compiles the rules folder with them, or prints why not
    /// (a bad setting; every compiler diagnostic as <c>file(line,col): error CODE: message</c>) and returns <c>null</c>.
    /// </summary>
    public static async Task<(EngineSettings Settings, RuleSetGeneration Rules, EvaluationPipeline Pipeline)?> LoadAsync(
        Dictionary<string, string?>? flags, TextWriter error, PluginSet? plugins = null)
    {
        if (flags is null || EngineSettings.Load(flags, error) is not { } settings)
        {
            return null;
        }

        try
        {
            var generation = RuleSetCompiler.Compile(
                settings.Rules.Directory, CompileCache(settings), settings.Severities, settings.Checks(plugins),
                settings.Rules.DirectoryOptional);
            foreach (var warning in generation.Warnings)
            {
                await error.WriteLineAsync(warning.ToString());
            }

            return (settings, generation, new EvaluationPipeline(settings.Pipeline));
        }
        catch (RuleCompilationException ex)
        {
            foreach (var diagnostic in ex.Diagnostics)
            {
                await error.WriteLineAsync(diagnostic.ToString());
            }

            await error.WriteLineAsync($"The rules in {settings.Rules.Directory} do not compile; nothing was run.");
            return null;
        }
    }
}
