using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// Golden files for <c>test --expect</c>: the <c>--json</c> output of a run compared line by line with a
/// file kept next to the recorded deliveries, with a readable diff (DiffPlex) when they differ.
/// </summary>
internal static class ExpectedOutput
{
    /// <summary>Compares (or, with <paramref name="update"/>, rewrites) <paramref name="file"/>; returns the exit code.</summary>
    public static async Task<int> CompareAsync(FileInfo file, string actual, bool update, bool badInput, TextWriter output, TextWriter error)
    {
        var lines = Normalize(actual);
        if (update)
        {
            await File.WriteAllTextAsync(file.FullName, lines.Length == 0 ? "" : string.Join('\n', lines) + "\n");
            await output.WriteLineAsync($"{file}: written, {lines.Length} lines; review the change before you commit it.");
            return ExitCodes.Ok;
        }

        if (!file.Exists)
        {
            await error.WriteLineAsync($"{file}: no such file; create it with --update-expected and review it.");
            return ExitCodes.CannotRun;
        }

        var expected = Normalize(await File.ReadAllTextAsync(file.FullName));
        if (expected.SequenceEqual(lines, StringComparer.Ordinal))
        {
            await output.WriteLineAsync($"{file}: matches ({lines.Length} lines).");
            return badInput ? ExitCodes.BadInput : ExitCodes.Ok;
        }

        await output.WriteLineAsync($"{file}: the output differs (- expected, + actual):");
        var diff = InlineDiffBuilder.Diff(string.Join('\n', expected), string.Join('\n', lines), ignoreWhiteSpace: false);
        foreach (var line in diff.Lines)
        {
            await output.WriteLineAsync(line.Type switch
            {
                ChangeType.Deleted => "- " + line.Text,
                ChangeType.Inserted => "+ " + line.Text,
                _ => "  " + line.Text,
            });
        }

        await output.WriteLineAsync($"If the change is intended: test ... --expect {file} --update-expected, then review and commit it.");
        return ExitCodes.BadInput;
    }

    private static string[] Normalize(string text) =>
        text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();
}
