namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// Shows the paths of rule files and their <c>#load</c>ed helpers as the ops engineer named the rules folder: with
/// <c>--rules rules</c>, a helper's error, and a failure at a line of a helper or of a rule's lambda, read
/// <c>rules/lib/helpers.csx(3,9)</c> as the rule files' own do, not the full path the compiler resolved the helper to
/// (and the embedded PDB carries). A path outside the folder, or the built-in rules', stays as it is.
/// </summary>
internal sealed class RulePaths(string? rulesDirectory)
{
    private readonly string? _full = rulesDirectory is null ? null : Path.TrimEndingDirectorySeparator(Path.GetFullPath(rulesDirectory));

    /// <summary>The paths as they are (where the folder is not known).</summary>
    public static RulePaths AsTheyAre { get; } = new(null);

    /// <summary><paramref name="path"/> under the folder as it was named; else <paramref name="path"/>.</summary>
    public string Display(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (rulesDirectory is null || _full is null || !Path.IsPathRooted(path) || !path.StartsWith(_full + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return path;
        }

        return Path.Join(rulesDirectory, path[(_full.Length + 1)..]);
    }
}
