using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Engine.Timers;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Timers;

/// <summary>
/// The timer loop on the real storage with fake time and no dispatch (what it fires stays pending): when it fires,
/// in what order, and that it stops firing while the store's backlog is above a batch.
/// </summary>
public sealed class TimerLoopTests : IAsyncLifetime
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _data = new();
    private readonly FakeTimeProvider _time = new(At);
    private readonly TestMeterFactory _meters = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TimerSignal _signal = new();
    private RunningStorage _running = null!;

    private SqliteStorage Storage => _running.Storage;

    public async Task InitializeAsync()
    {
        _running = await RunningStorage.StartAsync(_data.Path);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        _stop.Dispose();
        await _running.DisposeAsync();
        _meters.Dispose();
        _data.Dispose();
    }

    private Task StartLoop() =>
        new TimerLoop(Storage, Storage, _signal, new EngineMetrics(_meters), _time, NullLogger<TimerLoop>.Instance) { Batch = 2 }
            .RunAsync(_stop.Token);

    private async Task ScheduleAsync(int conversationId, TimeSpan after)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"id\":{conversationId},\"after\":\"{after}\"}}");
        var stored = await Storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), conversationId, At), default);
        await Storage.CommitEvaluationAsync(
            new EvaluationCommit(stored.DeliveryId, conversationId, stored.Sequence!.Value, At, "g", null, [], [], new DeliveryResult([], [], [], false),
                [new TimerChange("R", "t", conversationId, At + after)])
            {
                Claim = await Storage.ClaimForTestAsync(conversationId),
            },
            default);
        _signal.Scheduled(At + after);
    }

    private static async Task Until(string condition, Func<Task<bool>> holds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await holds())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 10 s for {condition}.");
            }

            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task DueTimersFire_InDueOrder_NoneBeforeItsTime_AndAnEarlierSchedulingWakesTheLoop()
    {
        await ScheduleAsync(1, TimeSpan.FromMinutes(10));
        await ScheduleAsync(2, TimeSpan.FromMinutes(5));
        _ = StartLoop();

        await Task.Delay(200);
        Assert.Equal(2, await Storage.CountPendingAsync(default));

        _time.Advance(TimeSpan.FromMinutes(10));
        await Until("both fired", async () => await Storage.CountPendingAsync(default) == 0);
        var fired = await Storage.ListAsync(new DeliveryFilter(Outcome: DeliveryOutcome.Pending), default);
        Assert.Equal([(2, TimerFiring.Event), (1, TimerFiring.Event)], fired.OrderBy(f => f.Id).Select(f => (f.ConversationId!.Value, f.Event)));

        // The loop now sleeps until its safety net (a minute); a timer due sooner is scheduled and wakes it.
        await ScheduleAsync(3, TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        await Until("the third fired", async () => await Storage.CountPendingAsync(default) == 0);
    }

    [Fact]
    public async Task WhileTheStoresBacklogIsAboveABatch_TheLoopFiresNothingMore()
    {
        for (var conversation = 1; conversation <= 5; conversation++)
        {
            await ScheduleAsync(conversation, TimeSpan.FromMinutes(1));
        }

        _time.Advance(TimeSpan.FromMinutes(2));
        _ = StartLoop();

        // A batch (2) fires while the store's backlog is at most a batch: two batches, then it waits for the rules.
        await Until("two batches fired", async () => await Storage.CountPendingAsync(default) <= 1);
        await Task.Delay(300);
        _time.Advance(TimeSpan.FromSeconds(1));
        await Task.Delay(300);

        Assert.Equal(1, await Storage.CountPendingAsync(default));
        Assert.Equal(4, await Storage.CountAsync(DeliveryOutcome.Pending, default));
    }
}
