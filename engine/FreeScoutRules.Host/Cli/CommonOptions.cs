using System.CommandLine;

namespace FreeScoutRules.Host.Cli;

/// <summary>Options that several verbs share, described once.</summary>
internal static class CommonOptions
{
    /// <summary><c>--severity ID=LEVEL</c>, repeatable: the severity of one of the engine's diagnostics.</summary>
    public static Option<string[]> Severity() => new("--severity")
    {
        Description = "Severity of an engine diagnostic, e.g. --severity FSR0002=error (error, warning or none); repeatable.",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>Parses <c>--severity</c> values; a bad one is reported on <paramref name="error"/> and yields <c>null</c>.</summary>
    public static FreeScoutRules.Engine.Rules.RuleDiagnosticSeverities? ParseSeverities(string[]? values, TextWriter error)
    {
        try
        {
            return FreeScoutRules.Engine.Rules.RuleDiagnosticSeverities.With((values ?? []).Select(v =>
            {
                var parts = v.Split('=', 2);
                return parts.Length == 2
                    ? new KeyValuePair<string, string?>(parts[0].Trim(), parts[1])
                    : throw new ArgumentException($"--severity takes ID=LEVEL, e.g. FSR0002=error, not '{v}'.");
            }));
        }
        catch (ArgumentException ex)
        {
            error.WriteLine(ex.Message);
            return null;
        }
    }

    /// <summary><c>--rules DIR</c>, required.</summary>
    public static Option<DirectoryInfo> RulesFolder() => new("--rules")
    {
        Description = "The rules folder: every *.csx directly in it is a rule file; subfolders hold #load helpers.",
        Required = true,
    };
}
