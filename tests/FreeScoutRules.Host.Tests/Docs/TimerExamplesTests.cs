using System.Text.RegularExpressions;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Docs;

/// <summary>
/// Every worked example with timers in docs/writing-rules.md runs, alone with the built-in status rules, on its
/// recorded deliveries in samples/timers/ through <c>freescout-rules test --json --expect</c>, and prints what
/// the reviewed expected file holds; the lines that make each example what it claims to be are checked here too.
/// </summary>
public sealed partial class TimerExamplesTests : IDisposable
{
    private static readonly Dictionary<string, string> SupportCalendar = new()
    {
        ["Calendars__support__TimeZone"] = "Europe/Berlin",
        ["Calendars__support__Hours__Monday"] = "09:00-17:00",
        ["Calendars__support__Hours__Tuesday"] = "09:00-17:00",
        ["Calendars__support__Hours__Wednesday"] = "09:00-17:00",
        ["Calendars__support__Hours__Thursday"] = "09:00-17:00",
        ["Calendars__support__Hours__Friday"] = "09:00-17:00",
    };

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-timer-docs-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"samples/timers/([\w-]+)\.jsonl")]
    private static partial Regex Sample();

    private static Dictionary<string, List<string>> Examples()
    {
        var doc = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docs", "writing-rules.md"));
        var section = doc[doc.IndexOf("### Worked examples with timers", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", StringComparison.Ordinal)];
        return section.Split("\n#### ")[1..].ToDictionary(
            part => Sample().Match(part).Groups[1].Value,
            part => CodeBlock().Matches(part).Select(m => m.Groups[1].Value).ToList());
    }

    [Theory]
    [InlineData("auto-close", new[] { "\"timer\":\"auto-close-warning\",\"rule\":\"auto-close-warn\",\"action\":\"freescout\",\"conversationId\":501", "\"operation\":\"status\",\"conversationId\":501,\"status\":\"closed\"" }, new[] { "\"kind\":\"timer\",\"name\":\"auto-close-warning\",\"conversationId\":502" })]
    [InlineData("first-response", new[] { "\"name\":\"first-response\",\"conversationId\":601,\"dueAt\":\"2026-12-07T11:00:00+00:00\"", "#601 has waited 4 business hours" }, new[] { "#602 has waited" })]
    [InlineData("reminders", new[] { "#701 waits for your answer (reminder-12h)", "#701 waits for your answer (reminder-24h)", "#702 waits for your answer (reminder-48h)" }, new[] { "#701 waits for your answer (reminder-48h)" })]
    [InlineData("survey", new[] { "\"timer\":\"survey\",\"rule\":\"send-survey\",\"action\":\"http\",\"conversationId\":801" }, new[] { "\"kind\":\"timer\",\"name\":\"survey\",\"conversationId\":802" })]
    public async Task AWorkedExample_PrintsWhatItsExpectedFileHolds(string sample, string[] present, string[] absent)
    {
        var rules = Directory.CreateDirectory(Path.Combine(_root, sample)).FullName;
        var blocks = Examples()[sample];
        for (var i = 0; i < blocks.Count; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(rules, $"example-{i}.csx"), blocks[i]);
        }

        var events = Path.Combine(AppContext.BaseDirectory, "samples", "timers", $"{sample}.jsonl");
        var expected = Path.Combine(AppContext.BaseDirectory, "samples", "timers", $"{sample}.expected.jsonl");
        var result = await CliProcess.RunWithEnvironmentAsync(SupportCalendar, null, "test", "--rules", rules, "--events", events, "--expect", expected);

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        var lines = await File.ReadAllTextAsync(expected);
        Assert.All(present, p => Assert.Contains(p, lines, StringComparison.Ordinal));
        Assert.All(absent, a => Assert.DoesNotContain(a, lines, StringComparison.Ordinal));
    }

    /// <summary>
    /// Issue 23: the recipe in the concise form (samples/timers/NAME.concise.csx), with the same rule names, prints
    /// byte for byte what its class-based version in the docs prints on the same recorded deliveries, and what the
    /// reviewed expected file holds; and it is at most 12 lines.
    /// </summary>
    [Theory]
    [InlineData("auto-close")]
    [InlineData("first-response")]
    [InlineData("reminders")]
    [InlineData("survey")]
    public async Task AConciseRecipe_PrintsByteForByteWhatItsClassBasedVersionPrints(string sample)
    {
        var classBased = Directory.CreateDirectory(Path.Combine(_root, sample + "-classes")).FullName;
        var blocks = Examples()[sample];
        for (var i = 0; i < blocks.Count; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(classBased, $"example-{i}.csx"), blocks[i]);
        }

        var concise = Directory.CreateDirectory(Path.Combine(_root, sample + "-concise")).FullName;
        var recipe = Path.Combine(AppContext.BaseDirectory, "samples", "timers", $"{sample}.concise.csx");
        File.Copy(recipe, Path.Combine(concise, Path.GetFileName(recipe)));
        var events = Path.Combine(AppContext.BaseDirectory, "samples", "timers", $"{sample}.jsonl");
        var expected = Path.Combine(AppContext.BaseDirectory, "samples", "timers", $"{sample}.expected.jsonl");

        var ofClasses = await CliProcess.RunWithEnvironmentAsync(SupportCalendar, null, "test", "--rules", classBased, "--events", events, "--json");
        var ofConcise = await CliProcess.RunWithEnvironmentAsync(SupportCalendar, null, "test", "--rules", concise, "--events", events, "--json");
        var checkedAgainstExpected = await CliProcess.RunWithEnvironmentAsync(SupportCalendar, null, "test", "--rules", concise, "--events", events, "--expect", expected);

        Assert.True(ofConcise.ExitCode == 0, ofConcise.Output + ofConcise.Error);
        Assert.True(checkedAgainstExpected.ExitCode == 0, checkedAgainstExpected.Output + checkedAgainstExpected.Error);
        Assert.Equal("", ofConcise.Error);
        Assert.Equal(ofClasses.Output, ofConcise.Output);
        Assert.Contains("\"kind\":\"action\"", ofConcise.Output, StringComparison.Ordinal);
        var lines = (await File.ReadAllLinesAsync(recipe)).Count(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith("//", StringComparison.Ordinal));
        Assert.True(lines <= 12, $"{recipe} has {lines} lines");
    }

    [Fact]
    public void EveryWorkedExampleWithTimers_HasItsSample()
    {
        var examples = Examples();

        Assert.Equal(["auto-close", "first-response", "reminders", "survey"], examples.Keys.Order());
        Assert.All(examples.Values, blocks => Assert.NotEmpty(blocks));
    }
}
