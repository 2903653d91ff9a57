using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>Timers in storage (issue 11): written with an evaluation's commit, all or nothing, one per conversation and name; fired once; the snapshot a firing sees.</summary>
public sealed class TimerStorageTests : IAsyncLifetime
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _data = new();
    private RunningStorage _running = null!;

    private SqliteStorage Storage => _running.Storage;

    public async Task InitializeAsync() => _running = await RunningStorage.StartAsync(_data.Path);

    public async Task DisposeAsync()
    {
        await _running.DisposeAsync();
        _data.Dispose();
    }

    private async Task<long> CommitAsync(int conversationId, string text, params TimerChange[] timers)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"id\":{conversationId},\"text\":\"{text}\"}}");
        var stored = await Storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), conversationId, At), default);
        await Storage.CommitEvaluationAsync(
            new EvaluationCommit(stored.DeliveryId, conversationId, stored.Sequence!.Value, At, "g", null, [], [], new DeliveryResult([], [], [], false), timers)
            {
                Claim = await Storage.ClaimForTestAsync(conversationId),
            },
            default);
        return stored.DeliveryId;
    }

    private Task<IReadOnlyList<StoredTimer>> PendingAsync(TimerFilter? filter = null) => Storage.ListAsync(filter ?? new TimerFilter(), default);

    [Fact]
    public async Task ScheduledTimers_AreListedSoonestFirst_ASecondSchedulingReplacesTheFirst_AndACancelEndsIt()
    {
        var first = await CommitAsync(7, "a", new TimerChange("R", "survey", 7, At.AddHours(24)), new TimerChange("R", "reminder", 7, At.AddHours(12)));
        await CommitAsync(8, "b", new TimerChange("R", "survey", 8, At.AddHours(1)));

        var pending = await PendingAsync();
        Assert.Equal([(8, "survey"), (7, "reminder"), (7, "survey")], pending.Select(t => (t.ConversationId, t.Name)));
        Assert.Equal((1, "R", first, TimerState.Pending), (pending[2].Number, pending[2].Rule, pending[2].DeliveryId, pending[2].State));
        Assert.Equal([(7, "reminder")], (await PendingAsync(new TimerFilter(ConversationId: 7, DueBefore: At.AddHours(13)))).Select(t => (t.ConversationId, t.Name)));

        var second = await CommitAsync(7, "c", new TimerChange("S", "survey", 7, At.AddHours(48)), new TimerChange("S", "reminder", 7, null));
        var seven = await PendingAsync(new TimerFilter(ConversationId: 7));

        var survey = Assert.Single(seven);
        Assert.Equal(("survey", 2, At.AddHours(48), "S", second), (survey.Name, survey.Number, survey.DueAt, survey.Rule, survey.DeliveryId));
        await CommitAsync(7, "d", new TimerChange("S", "reminder", 7, null)); // cancelling what is not pending changes nothing
        Assert.Single(await PendingAsync(new TimerFilter(ConversationId: 7)));
    }

    [Fact]
    public async Task ARefusedCommit_WritesNoTimer()
    {
        var delivery = await CommitAsync(9, "done once");
        var again = new EvaluationCommit(delivery, 9, 1, At, "g", null, [], [], new DeliveryResult([], [], [], false), [new TimerChange("R", "survey", 9, At.AddHours(1))])
        {
            Claim = new ConversationClaim(9, (await Storage.InstanceAsync()).Id, 1),
        };

        await Assert.ThrowsAsync<DeliveryNotPendingException>(() => Storage.CommitEvaluationAsync(again, default));

        Assert.Empty(await PendingAsync());
    }

    private List<WorkHint> Hints()
    {
        var hints = new List<WorkHint>();
        while (_running.Hints.Reader.TryRead(out var hint))
        {
            hints.Add(hint);
        }

        return hints;
    }

    private static TimerFiring Firing(StoredTimer timer, DateTimeOffset at) =>
        new(timer.ConversationId, timer.Name, timer.Number, timer.DueAt, at, timer.Rule);

    [Fact]
    public async Task FiringATimer_StoresItAsTheConversationsNextDelivery_AndMarksItFired_Once()
    {
        await CommitAsync(7, "a", new TimerChange("R", "survey", 7, At.AddHours(1)));
        var timer = Assert.Single(await PendingAsync());

        var fired = await Storage.FireAsync(Firing(timer, At.AddHours(2)), default);
        var again = await Storage.FireAsync(Firing(timer, At.AddHours(3)), default);

        Assert.NotNull(fired);
        Assert.Null(again);
        Assert.Equal(
            [new WorkHint(7, 1), new WorkHint(7, fired.DeliveryId)], // the delivery that scheduled it, then its firing (once)
            Hints());
        Assert.Equal(2, fired.Sequence);
        Assert.Empty(await PendingAsync());
        var done = Assert.Single(await Storage.ListAsync(new TimerFilter(State: TimerState.Fired), default));
        Assert.Equal((TimerState.Fired, At.AddHours(2)), (done.State, done.FiredAt));
        Assert.Single(await Storage.ListAsync(new TimerFilter(ConversationId: 7, State: null), default));
        var stored = await Storage.GetStoredAsync(fired.DeliveryId, default);
        Assert.Equal((TimerFiring.Event, 7, DeliveryOutcome.Pending, At.AddHours(2)), (stored!.Event, stored.ConversationId, stored.Outcome, stored.ReceivedAt));
        Assert.Equal(Firing(timer, At.AddHours(2)), TimerFiring.FromJson(stored.Body, out _));
        Assert.Equal([stored.Id], (await Storage.ListAsync(new DeliveryFilter(Outcome: DeliveryOutcome.Pending), default)).Select(d => d.Id));
    }

    [Fact]
    public async Task ATimerScheduledAgainAfterItWasRead_IsNotFiredByThatReading()
    {
        await CommitAsync(7, "a", new TimerChange("R", "survey", 7, At.AddHours(1)));
        var read = Assert.Single(await PendingAsync());
        await CommitAsync(7, "b", new TimerChange("R", "survey", 7, At.AddHours(5)));

        Assert.Null(await Storage.FireAsync(Firing(read, At.AddHours(2)), default));

        var pending = Assert.Single(await PendingAsync());
        Assert.Equal((2, At.AddHours(5)), (pending.Number, pending.DueAt));
        Assert.Equal(1, await Storage.CountPendingAsync(default));
    }

    [Fact]
    public async Task TheSnapshotOfAFiring_IsTheNewestProcessedDeliveryThatWasNotStale_BeforeIt()
    {
        var first = await CommitAsync(9, "newest known");
        var body = Encoding.UTF8.GetBytes("""{"id":9,"text":"stale"}""");
        var stale = await Storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), 9, At), default);
        await Storage.CommitEvaluationAsync(
            new EvaluationCommit(stale.DeliveryId, 9, stale.Sequence!.Value, At, "g", null, [], [], new DeliveryResult([], [], [], true))
            {
                Claim = await Storage.ClaimForTestAsync(9),
            }, default);
        await CommitAsync(9, "after the timer");

        var snapshot = await Storage.LoadSnapshotAsync(9, stale.Sequence.Value + 1, default);

        Assert.Equal(first, snapshot!.Id);
        Assert.Contains("newest known", Encoding.UTF8.GetString(snapshot.Body!), StringComparison.Ordinal);
        Assert.Null(await Storage.LoadSnapshotAsync(9, 1, default));
        Assert.Null(await Storage.LoadSnapshotAsync(10, 100, default));
    }
}
