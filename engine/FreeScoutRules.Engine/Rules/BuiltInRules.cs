using System.Reflection;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// The built-in status rules (<c>rules/status-change.csx</c> of the repository, embedded in the engine):
/// always in force, so that a rules folder without them cannot silently treat every delivery as
/// stale. A rules folder may replace them on purpose with a file of the same name, <c>status-change.csx</c>;
/// when its content differs from the built-in one, compiling says so (FSR0006, a warning by default).
/// </summary>
internal static class BuiltInRules
{
    /// <summary>The name of the status rules' file.</summary>
    public const string FileName = "status-change.csx";

    /// <summary>How the built-in file is named in diagnostics and rule locations.</summary>
    public const string DisplayPath = "builtin:" + FileName;

    private static readonly Lazy<string> Text = new(() =>
    {
        using var stream = typeof(BuiltInRules).Assembly.GetManifestResourceStream("FreeScoutRules.Engine.BuiltInRules." + FileName)
            ?? throw new InvalidOperationException("The built-in rules are missing from the engine assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>The source of the built-in status rules.</summary>
    public static string Source => Text.Value;

    /// <summary>True for the built-in file and for a rules folder's own <c>status-change.csx</c>.</summary>
    public static bool IsStatusRulesFile(string file) =>
        file == DisplayPath || string.Equals(Path.GetFileName(file), FileName, StringComparison.Ordinal);

    /// <summary>Adds the built-in file to a folder's rule files unless the folder has its own.</summary>
    public static void AddTo(List<(string File, string Code)> sources, List<RuleDiagnostic> diagnostics, RuleDiagnosticSeverities severities)
    {
        var own = sources.FindIndex(s => string.Equals(Path.GetFileName(s.File), FileName, StringComparison.Ordinal));
        if (own < 0)
        {
            sources.Add((DisplayPath, Source));
            return;
        }

        if (!string.Equals(Normalize(sources[own].Code), Normalize(Source), StringComparison.Ordinal)
            && severities.Of(EngineDiagnosticIds.OverridesBuiltInRules) is { } severity)
        {
            diagnostics.Add(new RuleDiagnostic(
                sources[own].File, 1, 1, severity, EngineDiagnosticIds.OverridesBuiltInRules,
                $"this {FileName} replaces the built-in status rules; delete it to use the built-in ones (docs/status-change.md), or set Rules:Severity:{EngineDiagnosticIds.OverridesBuiltInRules}=none if the change is deliberate"));
        }
    }

    private static string Normalize(string code) => code.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
}
