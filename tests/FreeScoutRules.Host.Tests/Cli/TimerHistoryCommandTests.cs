using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary><c>replay</c> and <c>explain</c> on a history in which a timer fired (a <c>timer.elapsed</c> delivery).</summary>
public sealed class TimerHistoryCommandTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-timer-history-{Guid.NewGuid():N}");
    private long _timerDelivery;

    private string DataDirectory => Path.Combine(_root, "data");

    private string RulesDirectory => Path.Combine(_root, "rules");

    public async Task InitializeAsync()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
        await using var server = await TestServerHost.StartAsync(extraRules: new Dictionary<string, string> { ["survey.csx"] = TimerRules.Survey }, root: _root, time: time);
        server.DeleteRootOnDispose = false;
        await server.PostFixtureAsync("convo.status.closed");
        await server.SettledDeliveriesAsync();
        time.Advance(TimeSpan.FromMinutes(31));
        await Eventually.UntilAsync("the survey timer fired and ran", async () =>
        {
            var timer = (await server.SettledDeliveriesAsync()).FirstOrDefault(d => d.GetProperty("event").GetString() == "timer.elapsed");
            _timerDelivery = timer.ValueKind == JsonValueKind.Object ? timer.GetProperty("id").GetInt64() : 0;
            return _timerDelivery > 0;
        });
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Replay_SameRules_RunsTheFiringAgain_AndChangesNothing()
    {
        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal("2 deliveries replayed, 2 compared: 0 added, 0 gone, 0 failed", result.OutputLines[^1]);
    }

    [Fact]
    public async Task Replay_WithoutTheHandler_ShowsItsIntentGone_AndWithALaterSurvey_TheTimerMoved()
    {
        File.WriteAllText(Path.Combine(RulesDirectory, "survey.csx"), TimerRules.Survey
            .Replace("TimeSpan.FromMinutes(30)", "TimeSpan.FromHours(2)", StringComparison.Ordinal)
            .Replace("t.Name == \"survey\"", "t.Name == \"survey-v2\"", StringComparison.Ordinal));

        var result = await CliProcess.RunWithEnvironmentAsync(
            SampleRule.Environment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory, "--severity", "FSR0009=none", "--severity", "FSR0010=none");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains(result.OutputLines, l => l.Contains("- action survey-mailer {\"text\":\"survey for #1187 (closed), number 1, 1 min late\"} (rule SendSurvey)", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.Contains("+ timer survey of conversation 1187 due 2026-12-01T12:00:00.000Z (rule SurveyAfterClose)", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.Contains("- timer survey of conversation 1187 due 2026-12-01T10:30:00.000Z (rule SurveyAfterClose)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Explain_AStoredFiring_ShowsTheTimer_AndWhichRulesFired()
    {
        var result = await CliProcess.RunWithEnvironmentAsync(
            SampleRule.Environment, null, "explain", "--rules", RulesDirectory, "--data-dir", DataDirectory, "--delivery", _timerDelivery.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.StartsWith($"delivery {_timerDelivery}: timer survey (number 1) of conversation 1187, due 2026-12-01 10:30:00Z, fired 2026-12-01 10:31:00Z, known status closed", result.OutputLines[0], StringComparison.Ordinal);
        Assert.Contains("facts: TimerElapsed, PriorState;", result.OutputLines[1], StringComparison.Ordinal);
        Assert.Contains(result.OutputLines, l => l.StartsWith("fired      SendSurvey", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith("not fired  SurveyAfterClose", StringComparison.Ordinal) && l.Contains("no StatusChanged fact", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith("the server recorded: fired SendSurvey (done)", StringComparison.Ordinal));
    }
}
