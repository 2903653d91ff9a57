using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// Timers firing in <c>serve</c> (issue 11): on the server's clock (a fake one here, moved by the test), in the
/// conversation's turn, through the same pipeline as deliveries, exactly once, and after downtime. The action
/// the timer's rule queues has no plugin (each attempt ends at once, without a request): an HTTP attempt's retry delays would run on
/// the fake clock and hold the server's stop.
/// </summary>
public sealed class TimerFiringTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private static Task<TestServerHost> StartAsync(FakeTimeProvider time, string? root = null) =>
        TestServerHost.StartAsync(extraRules: new Dictionary<string, string> { ["survey.csx"] = TimerRules.Survey }, time: time, root: root);

    private static async Task<JsonElement[]> TimerDeliveriesAsync(TestServerHost server, int expected)
    {
        JsonElement[] timers = [];
        await Eventually.UntilAsync($"{expected} timer deliveries done", async () =>
        {
            timers = [.. (await server.SettledDeliveriesAsync()).Where(d => d.GetProperty("event").GetString() == "timer.elapsed")];
            return (timers.Length >= expected, $"{timers.Length} so far");
        });
        return timers;
    }

    [Fact]
    public async Task ATimerFiresWhenDue_RunsItsRulesWithTheConversationsStateAndSnapshot_Once()
    {
        var time = new FakeTimeProvider(Start);
        await using var server = await StartAsync(time);
        await server.PostFixtureAsync("convo.status.closed");
        await server.SettledDeliveriesAsync();

        // (FakeTimeProvider calls every periodic timer once per period it moves over: minutes, not days.)
        time.Advance(TimeSpan.FromMinutes(29));
        await Task.Delay(300);
        Assert.DoesNotContain(await server.SettledDeliveriesAsync(), d => d.GetProperty("event").GetString() == "timer.elapsed");

        time.Advance(TimeSpan.FromMinutes(1));
        var fired = Assert.Single(await TimerDeliveriesAsync(server, 1));

        Assert.Equal(("done", 1187, 2L), (fired.GetProperty("outcome").GetString(), fired.GetProperty("conversationId").GetInt32(), fired.GetProperty("sequence").GetInt64()));
        Assert.False(fired.GetProperty("stale").GetBoolean());
        var timer = fired.GetProperty("timer");
        Assert.Equal(("survey", 1, "SurveyAfterClose"), (timer.GetProperty("name").GetString(), timer.GetProperty("number").GetInt32(), timer.GetProperty("scheduledBy").GetString()));
        Assert.Equal(Start + TimeSpan.FromMinutes(30), timer.GetProperty("dueAt").GetDateTimeOffset());
        Assert.Empty(fired.GetProperty("statusChanges").EnumerateArray());
        var intent = Assert.Single(fired.GetProperty("actionIntents").EnumerateArray());
        Assert.Equal("survey for #1187 (closed), number 1, 0 min late", intent.GetProperty("arguments").GetProperty("text").GetString());
        Assert.Empty((await server.Admin.GetFromJsonAsync<JsonElement>("/api/timers")).EnumerateArray());

        time.Advance(TimeSpan.FromMinutes(60));
        await Task.Delay(300);
        Assert.Single(await TimerDeliveriesAsync(server, 1));

        // Counted right after the commit that the admin API already shows: polled.
        string[] expected =
        [
            @"(?m)^freescout_rules_timers_fired_total(\{[^}]*\})? 1( |$)",
            @"(?m)^freescout_rules_timers_lateness_seconds_count(\{[^}]*\})? 1( |$)",
            @"(?m)^freescout_rules_timers_changes_total\{[^}]*kind=""scheduled""[^}]*\} 1( |$)",
            @"(?m)^freescout_rules_timers_pending(\{[^}]*\})? \d",
        ];
        await Eventually.UntilAsync("the timer metrics", async () =>
        {
            var metrics = await server.Admin.GetStringAsync("/metrics");
            var missing = expected.Where(p => !System.Text.RegularExpressions.Regex.IsMatch(metrics, p)).ToList();
            return (missing.Count == 0, $"not matched: {string.Join(", ", missing)}");
        });
    }

    [Fact]
    public async Task ACancelledTimerNeverFires()
    {
        var time = new FakeTimeProvider(Start);
        await using var server = await StartAsync(time);
        await server.PostFixtureAsync("convo.status.closed");
        await server.SettledDeliveriesAsync();
        time.Advance(TimeSpan.FromMinutes(10));
        await server.PostFixtureAsync("convo.customer.reply.created.reopened");
        await server.SettledDeliveriesAsync();

        time.Advance(TimeSpan.FromMinutes(60));
        await Task.Delay(500);

        Assert.DoesNotContain(await server.SettledDeliveriesAsync(), d => d.GetProperty("event").GetString() == "timer.elapsed");
    }

    [Fact]
    public async Task ATimerDueWhileTheServerWasDown_FiresAtStart_WithItsLateness()
    {
        var time = new FakeTimeProvider(Start);
        var root = Path.Combine(Path.GetTempPath(), $"fsr-timers-{Guid.NewGuid():N}");
        await using (var before = await StartAsync(time, root))
        {
            before.DeleteRootOnDispose = false;
            await before.PostFixtureAsync("convo.status.closed");
            await before.SettledDeliveriesAsync();
        }

        time.Advance(TimeSpan.FromMinutes(30 + 50));
        await using var after = await StartAsync(time, root);

        var fired = Assert.Single(await TimerDeliveriesAsync(after, 1));
        var intent = Assert.Single(fired.GetProperty("actionIntents").EnumerateArray());
        Assert.Equal("survey for #1187 (closed), number 1, 50 min late", intent.GetProperty("arguments").GetProperty("text").GetString());
    }
}
