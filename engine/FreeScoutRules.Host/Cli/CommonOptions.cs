using System.CommandLine;

namespace FreeScoutRules.Host.Cli;

/// <summary>Options that several verbs share, described once.</summary>
internal static class CommonOptions
{
    /// <summary><c>--rules DIR</c>, required.</summary>
    public static Option<DirectoryInfo> RulesFolder() => new("--rules")
    {
        Description = "The rules folder: every *.csx directly in it is a rule file; subfolders hold #load helpers.",
        Required = true,
    };
}
