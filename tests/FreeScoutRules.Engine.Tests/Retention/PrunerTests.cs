using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Retention;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Retention;

/// <summary>Retention on the real SQLite store: what goes, what stays, and that nothing waiting for work is touched.</summary>
public sealed class PrunerTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _data = new();
    private readonly FakeTimeProvider _time = new(Start);
    private readonly TestMeterFactory _meters = new();
    private RunningStorage _running = null!;

    private SqliteStorage Storage => _running.Storage;

    public async Task InitializeAsync() => _running = await RunningStorage.StartAsync(_data.Path);

    public async Task DisposeAsync()
    {
        await _running.DisposeAsync();
        _meters.Dispose();
        _data.Dispose();
    }

    /// <summary>A pruner whose passes these tests run themselves (<see cref="Pruner.PruneOnceAsync"/>: no lease asked; PrunerLeaseTests has the lease).</summary>
    private Pruner Pruner(TimeSpan bodies, TimeSpan records) =>
        new(Storage, new NamedLeases(Storage, () => throw new InvalidOperationException("These tests run passes without the retention lease."), TimeSpan.FromMinutes(1), _time, new EngineMetrics(_meters), NullLogger<NamedLeases>.Instance),
            new RetentionOptions { Bodies = bodies, Records = records, BatchSize = 2, BatchPause = TimeSpan.Zero }, _time, new EngineMetrics(_meters), NullLogger<Pruner>.Instance);

    private async Task<StoreResult> StoreAsync(int conversationId, string text, DateTimeOffset at)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"id\":{conversationId},\"text\":\"{text}\"}}");
        return await Storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), conversationId, at), default);
    }

    private async Task CommitAsync(StoreResult stored, int conversationId, params ActionIntent[] intents) => await Storage.CommitEvaluationAsync(
        new EvaluationCommit(stored.DeliveryId, conversationId, stored.Sequence!.Value, _time.GetUtcNow(), "g",
            new NextState(conversationId, "closed", _time.GetUtcNow()), [], intents, new DeliveryResult([], [], [], false))
        {
            Claim = await Storage.ClaimForTestAsync(conversationId),
        },
        default);

    [Fact]
    public async Task OldBodiesGo_ButNotThoseOfPendingParkedOrWaitingDeliveries_AndRecordsGoLater()
    {
        var done = new List<StoreResult>();
        for (var i = 0; i < 5; i++)
        {
            var stored = await StoreAsync(1, $"done {i}", Start);
            await CommitAsync(stored, 1);
            done.Add(stored);
        }

        var waiting = await StoreAsync(2, "its intent is pending", Start);
        await CommitAsync(waiting, 2, new ActionIntent("r", "http", 2, "{}"));
        var parked = await StoreAsync(3, "parked", Start);
        await Storage.RecordFailureAsync(new DeliveryFailure(parked.DeliveryId, 3, parked.Sequence!.Value, "failed", true) { Claim = await Storage.ClaimForTestAsync(3) }, default);
        var pending = await StoreAsync(4, "pending", Start);
        var fresh = await StoreAsync(1, "fresh", Start.AddDays(40));
        await CommitAsync(fresh, 1);

        _time.SetUtcNow(Start.AddDays(31));
        var (records, bodies) = await Pruner(TimeSpan.FromDays(30), TimeSpan.FromDays(180)).PruneOnceAsync(default);

        Assert.Equal((0, 5), (records, bodies));
        var history = (await Storage.LoadHistoryAsync(null, default)).ToDictionary(d => d.Id);
        Assert.All(done, d => Assert.Null(history[d.DeliveryId].Body));
        Assert.NotNull(history[waiting.DeliveryId].Body);
        Assert.NotNull(history[parked.DeliveryId].Body);
        Assert.NotNull(history[pending.DeliveryId].Body);
        Assert.NotNull(history[fresh.DeliveryId].Body);
        Assert.Equal(1, await Storage.CountAsync(DeliveryOutcome.Pending, default));

        _time.SetUtcNow(Start.AddDays(181));
        (records, bodies) = await Pruner(TimeSpan.FromDays(30), TimeSpan.FromDays(180)).PruneOnceAsync(default);

        Assert.Equal(5, records);
        var left = (await Storage.LoadHistoryAsync(null, default)).Select(d => d.Id).Order().ToList();
        Assert.Equal([waiting.DeliveryId, parked.DeliveryId, pending.DeliveryId, fresh.DeliveryId], left);
        Assert.Equal(1, (await Storage.StatsAsync(default)).Pending);

    }

    [Fact]
    public async Task AFirstPass_StartsAtTheOldestBodyStillStored_NotAtTheOldestRecord()
    {
        // 300 old records whose bodies went long ago, then two old deliveries that still have theirs.
        for (var i = 0; i < 300; i++)
        {
            await CommitAsync(await StoreAsync(10 + i, "body pruned earlier", Start), 10 + i);
        }

        _time.SetUtcNow(Start.AddDays(31));
        Assert.Equal(300, (await Pruner(TimeSpan.FromDays(30), TimeSpan.FromDays(180)).PruneOnceAsync(default)).Bodies);
        var kept = new[] { await StoreAsync(1, "still has its body", Start.AddDays(2)), await StoreAsync(2, "this one too", Start.AddDays(2)) };
        await CommitAsync(kept[0], 1);
        await CommitAsync(kept[1], 2);

        // A fresh start (no cursor): one batch of 100 reaches them, past the 300 records without bodies.
        _time.SetUtcNow(Start.AddDays(33));
        var (pruned, last) = await Storage.PruneBodiesAsync(null, _time.GetUtcNow() - TimeSpan.FromDays(30), 100, default);

        Assert.Equal(2, pruned);
        Assert.Equal(kept[1].DeliveryId, last!.Id);
        Assert.Equal((0, null), await Storage.PruneBodiesAsync(null, _time.GetUtcNow() - TimeSpan.FromDays(30), 100, default));
    }

    [Fact]
    public async Task AConversationWhoseRecordsAllWent_ContinuesItsSequenceAfterARestart()
    {
        await CommitAsync(await StoreAsync(5, "first", Start), 5);
        await CommitAsync(await StoreAsync(5, "second", Start), 5);
        await CommitAsync(await StoreAsync(6, "newer, of another conversation", Start.AddDays(190)), 6);
        _time.SetUtcNow(Start.AddDays(200));
        Assert.Equal(2, (await Pruner(TimeSpan.FromDays(30), TimeSpan.FromDays(180)).PruneOnceAsync(default)).Records);
        Assert.Empty(await Storage.LoadHistoryAsync(5, default));

        await _running.DisposeAsync();
        _running = await RunningStorage.StartAsync(_data.Path);
        var next = await StoreAsync(5, "after retention and a restart", Start.AddDays(200));

        Assert.Equal(3, next.Sequence);
    }

    [Fact]
    public async Task DeadLettersAndTheBodiesOfFailedRulesWait_AndTheNewestIdsAreNeverFreed()
    {
        var dead = await StoreAsync(1, "its intent died", Start);
        await CommitAsync(dead, 1, new ActionIntent("r", "http", 1, "{}"));
        var intent = (await Storage.ClaimDueForTestAsync()).Single();
        await Storage.RecordAttemptAsync(new AttemptCommit(intent.Claim, 1, Start, TimeSpan.Zero, AttemptOutcome.Failed, "400", IntentState.Dead, null), default);
        var failed = await StoreAsync(2, "a rule failed on it", Start);
        await Storage.CommitEvaluationAsync(
            new EvaluationCommit(failed.DeliveryId, 2, failed.Sequence!.Value, Start, "g", null, [], [],
                new DeliveryResult([], [], [], false, RuleFailures: [new RuleFailureRecord("r", "x.csx(1,1)", "condition", "boom", false)]))
            {
                Claim = await Storage.ClaimForTestAsync(2),
            },
            default);
        var newest = await StoreAsync(3, "the newest", Start);
        await CommitAsync(newest, 3);

        _time.SetUtcNow(Start.AddDays(31));
        var bodies = (await Pruner(TimeSpan.FromDays(30), TimeSpan.FromDays(180)).PruneOnceAsync(default)).Bodies;
        _time.SetUtcNow(Start.AddDays(181));
        var records = (await Pruner(TimeSpan.FromDays(30), TimeSpan.FromDays(180)).PruneOnceAsync(default)).Records;

        Assert.Equal(1, bodies); // only the newest one's: the dead letter's and the failed one's wait
        Assert.Equal(1, records); // only the failed one's record: the dead letter waits, the newest row keeps its id taken
        var left = (await Storage.LoadHistoryAsync(null, default)).ToDictionary(d => d.Id);
        Assert.Equal([dead.DeliveryId, newest.DeliveryId], left.Keys.Order());
        Assert.NotNull(left[dead.DeliveryId].Body);
        Assert.Equal(1, (await Storage.StatsAsync(default)).Dead);
    }

    [Fact]
    public async Task ZeroKeepsEverything()
    {
        var stored = await StoreAsync(1, "kept", Start);
        await CommitAsync(stored, 1);
        _time.SetUtcNow(Start.AddYears(5));

        Assert.Equal((0, 0), await Pruner(TimeSpan.Zero, TimeSpan.Zero).PruneOnceAsync(default));
        Assert.NotNull(Assert.Single(await Storage.LoadHistoryAsync(null, default)).Body);
    }
}
