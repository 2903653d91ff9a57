using System.Net;
using System.Text.RegularExpressions;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>
/// <c>#load</c> resolves relative to the including file, whatever the rules folder is called: relative (the default
/// <c>rules</c>), absolute, through a symlink, with <c>..</c>; <c>check</c>, <c>test</c> and <c>serve</c> agree, and the
/// ops-repository CI example of docs/writing-rules.md runs exactly as written.
/// </summary>
public sealed partial class RulesFolderPathTests : IDisposable
{
    private readonly string _repo = Path.Combine(Path.GetTempPath(), $"fsr-ops-{Guid.NewGuid():N}");

    public RulesFolderPathTests()
    {
        // The layout of docs/writing-rules.md, "Testing rules in CI".
        Directory.CreateDirectory(Path.Combine(_repo, "rules", "lib"));
        Directory.CreateDirectory(Path.Combine(_repo, "plugins"));
        Directory.CreateDirectory(Path.Combine(_repo, "tests"));
        File.WriteAllText(Path.Combine(_repo, "settings.json"), """
            // the settings the rules depend on, as the server's
            { "Dispatch": { "BotUserId": 99999 } }
            """);
        File.WriteAllText(Path.Combine(_repo, "rules", "lib", "helpers.csx"), """
            #load "nested/hook.csx"
            public static class Helpers
            {
                public static string Text(StatusChanged change) => $"#{change.Number} closed";
            }
            """);
        Directory.CreateDirectory(Path.Combine(_repo, "rules", "lib", "nested"));
        File.WriteAllText(Path.Combine(_repo, "rules", "lib", "nested", "hook.csx"), """
            public static class Hook { public const string Url = "https://hooks.example.com/support"; }
            """);
        File.WriteAllText(Path.Combine(_repo, "rules", "notify-on-close.csx"), """
            #load "lib/helpers.csx"
            [Name("notify-on-close")]
            public class NotifyOnClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("http", new { url = Hook.Url, body = new { text = Helpers.Text(change) } }));
                }
            }
            """);
        using var events = new JsonLinesFile();
        File.Copy(events.Add("convo.status", "convo.status.closed").Save(), Path.Combine(_repo, "tests", "send-and-close.jsonl"));
    }

    public void Dispose() => Directory.Delete(_repo, recursive: true);

    [Theory]
    [InlineData("rules")]
    [InlineData("../{repo}/rules")]
    [InlineData("link")]
    public async Task Check_And_Test_ResolveLoad_RelativeToTheIncludingFile(string rules)
    {
        File.CreateSymbolicLink(Path.Combine(_repo, "link"), Path.Combine(_repo, "rules"));
        rules = rules.Replace("{repo}", Path.GetFileName(_repo), StringComparison.Ordinal).Replace("{abs}", Path.Combine(_repo, "rules"), StringComparison.Ordinal);

        var check = await CliProcess.RunInAsync(_repo, null, null, "check", "--rules", rules, "--plugins", "plugins");
        var test = await CliProcess.RunInAsync(_repo, null, null, "test", "--rules", rules, "--events", "tests/send-and-close.jsonl");

        Assert.True(check.ExitCode == 0, check.Output + check.Error);
        Assert.Contains("notify-on-close", check.Output, StringComparison.Ordinal);
        Assert.True(test.ExitCode == 0, test.Output + test.Error);
        Assert.Contains(test.OutputLines, l => l.Contains("\"text\":\"#1187 closed\"", StringComparison.Ordinal) && l.Contains("hooks.example.com/support", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("rules")]
    [InlineData("./rules")]
    public async Task AHelpersErrorAndAFailureInAHelper_AreShownUnderTheRulesFolderAsNamed(string rules)
    {
        var helper = Path.Combine(_repo, "rules", "lib", "helpers.csx");
        var source = await File.ReadAllTextAsync(helper);
        await File.WriteAllTextAsync(helper, source.Replace("$\"#{change.Number} closed\"", "$\"#{change.Number} closed {int.Parse(change.To)}\"", StringComparison.Ordinal));
        var failing = await CliProcess.RunInAsync(_repo, null, null, "test", "--rules", rules, "--events", "tests/send-and-close.jsonl");
        await File.WriteAllTextAsync(helper, source.Replace("closed\";", "closed\" + undefined;", StringComparison.Ordinal));
        var broken = await CliProcess.RunInAsync(_repo, null, null, "check", "--rules", rules);

        Assert.Equal(1, failing.ExitCode);
        Assert.Contains(failing.OutputLines, l => l.Contains($"rule notify-on-close FAILED ({rules}/notify-on-close.csx(3,14))", StringComparison.Ordinal)
            && l.Contains($", at {rules}/lib/helpers.csx(4,", StringComparison.Ordinal)); // not the full path the compiler resolved it to
        Assert.Equal(2, broken.ExitCode);
        Assert.StartsWith($"{rules}/lib/helpers.csx(4,", broken.Error, StringComparison.Ordinal);
        Assert.Contains("error CS0103: The name 'undefined' does not exist", broken.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheDocsCiExample_RunsAsWritten_OnAnOpsRepository()
    {
        var doc = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "docs", "writing-rules.md"));
        var section = doc[doc.IndexOf("## Testing rules in CI", StringComparison.Ordinal)..];
        var blocks = ShellBlock().Matches(section).Select(m => m.Groups[1].Value).ToList();
        var record = blocks.First(b => b.Contains("--update-expected", StringComparison.Ordinal));
        var ci = blocks.First(b => b.Contains("for events in tests/*.jsonl", StringComparison.Ordinal));
        // freescout-rules on PATH, as the installed tool would be.
        var bin = Path.Combine(_repo, ".bin");
        Directory.CreateDirectory(bin);
        var tool = Path.Combine(bin, "freescout-rules");
        await File.WriteAllTextAsync(tool, $"#!/bin/sh\nexec dotnet '{Path.Combine(AppContext.BaseDirectory, "freescout-rules.dll")}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(tool, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var recorded = await BashAsync(record, bin);
        var passed = await BashAsync(ci, bin);
        await File.WriteAllTextAsync(Path.Combine(_repo, "rules", "lib", "nested", "hook.csx"), """
            public static class Hook { public const string Url = "https://hooks.example.com/changed"; }
            """);
        var changed = await BashAsync(ci, bin);

        Assert.True(recorded.ExitCode == 0, recorded.Output);
        Assert.True(File.Exists(Path.Combine(_repo, "tests", "send-and-close.expected.jsonl")));
        Assert.True(passed.ExitCode == 0, passed.Output);
        Assert.NotEqual(0, changed.ExitCode); // a change in a #loaded helper shows as a difference
        Assert.Contains("hooks.example.com/changed", changed.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_WithARelativeRulesFolder_LoadsTheIncludingFilesHelpers()
    {
        await using var server = await ServeProcess.StartAsync(_repo, rulesArgument: "rules");

        var rules = await server.Admin.GetStringAsync("/api/rules");

        Assert.Contains("notify-on-close", rules, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await server.Admin.GetAsync("/api/status")).StatusCode);
    }

    private async Task<CliProcess.Result> BashAsync(string script, string bin)
    {
        var start = new System.Diagnostics.ProcessStartInfo("bash", ["-c", script])
        {
            WorkingDirectory = _repo,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new CliProcess.Result(process.ExitCode, await output + await error, "");
    }

    [GeneratedRegex("```sh\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex ShellBlock();
}
