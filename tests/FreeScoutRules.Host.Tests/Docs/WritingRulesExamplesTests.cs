using System.Text.RegularExpressions;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Docs;

/// <summary>
/// Every C# block of docs/writing-rules.md compiles as a rule file (helpers by their "// lib/…" first line),
/// and with rules.sample.csx passes <c>check --plugins</c> against the built-in plugins without a warning. The
/// concise recipes (a first line "// samples/timers/NAME.concise.csx") are those files, which TimerExamplesTests run;
/// the first rule runs on the recorded deliveries and prints what the docs show.
/// </summary>
public sealed partial class WritingRulesExamplesTests : IDisposable
{
    private readonly string _rules = Path.Combine(Path.GetTempPath(), $"fsr-docs-{Guid.NewGuid():N}");

    public void Dispose() => Directory.Delete(_rules, recursive: true);

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    [Fact]
    public async Task Examples_Compile_AndTheirRulesAreFound()
    {
        var doc = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "docs", "writing-rules.md"));
        Directory.CreateDirectory(Path.Combine(_rules, "lib"));
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules", "status-change.csx"), Path.Combine(_rules, "status-change.csx"));
        var all = CodeBlock().Matches(doc).Select(m => m.Groups[1].Value).ToList();
        var recipes = all.Where(b => b.StartsWith("// samples/timers/", StringComparison.Ordinal)).ToList();
        var blocks = all.Except(recipes).ToList();
        Assert.Equal(4, recipes.Count);
        foreach (var recipe in recipes)
        {
            // The docs show the sample file as it is: the same rule names as the DSL's versions, run by TimerExamplesTests.
            var sample = recipe.Split('\n')[0][3..].Split(':')[0];
            Assert.Equal(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, sample)), recipe);
        }

        for (var i = 0; i < blocks.Count; i++)
        {
            var helper = blocks[i].StartsWith("// lib/", StringComparison.Ordinal);
            var path = helper ? Path.Combine(_rules, blocks[i].Split('\n')[0][3..].Trim()) : Path.Combine(_rules, $"example-{i}.csx");
            await File.WriteAllTextAsync(path, blocks[i]);
        }

        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(_rules, "sample.csx"));
        var plugins = Directory.CreateDirectory(Path.Combine(_rules, "..", Path.GetFileName(_rules) + "-plugins")).FullName;
        // The business-hours example names the calendar "support": configured as the docs show it.
        var environment = new Dictionary<string, string>(SampleRule.Environment) { ["Calendars__support__TimeZone"] = "Europe/Berlin", ["Calendars__support__Hours__Monday"] = "09:00-17:00" };
        var result = await CliProcess.RunWithEnvironmentAsync(environment, null, "check", "--rules", _rules, "--plugins", plugins);
        Directory.Delete(plugins);

        Assert.True(blocks.Count >= 4, $"only {blocks.Count} code blocks found");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal("", result.Error); // the examples and the sample use actions that exist (http, freescout): no warning at all
        Assert.Contains(result.OutputLines, l => l.StartsWith("notify-on-close", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith("tag-reopened", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith("escalate-pending-customer-replies", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith("NotifySupportOnClose", StringComparison.Ordinal));
    }

    [GeneratedRegex("## Your first rule in five minutes\n.*?```csharp\n(.*?)```.*?```text\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FirstRule();

    [Fact]
    public async Task TheFirstRule_PrintsOnTheRecordedDeliveries_WhatTheDocsShow()
    {
        var doc = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "docs", "writing-rules.md"));
        var first = FirstRule().Match(doc);
        Assert.True(first.Success, "no first rule and its output in the docs");
        Directory.CreateDirectory(_rules);
        await File.WriteAllTextAsync(Path.Combine(_rules, "notify-on-close.csx"), first.Groups[1].Value);

        var result = await CliProcess.RunAsync(null, "test", "--rules", _rules, "--events", Path.Combine(AppContext.BaseDirectory, "samples", "send-and-close.jsonl"));

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        // The one warning the docs announce: .NotByBot() without Dispatch:BotUserId (FSR0012), at the rule's class.
        Assert.StartsWith($"{Path.Combine(_rules, "notify-on-close.csx")}(1,14): warning FSR0012: Rule 'NotifySupportOnClose' excludes our own writes (.NotByBot(), ", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
        Assert.Contains("warning FSR0012: Rule 'NotifySupportOnClose' excludes our own", doc, StringComparison.Ordinal);
        var configured = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string> { ["Dispatch__BotUserId"] = "99999" }, null, "test", "--rules", _rules, "--events", Path.Combine(AppContext.BaseDirectory, "samples", "send-and-close.jsonl"));
        Assert.Equal("", configured.Error); // set, no warning
        var shown = first.Groups[2].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, shown.Length);
        Assert.All(shown, line => Assert.Contains(line, result.OutputLines));
        Assert.Single(result.OutputLines, l => l.StartsWith("line ", StringComparison.Ordinal) && l.Contains("): action ", StringComparison.Ordinal));
    }
}
