using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Dispatch;

/// <summary>
/// Issue 21's fence, end to end on the SQLite store with two dispatchers (two instances, as two processes on one
/// store would be) and a fake clock: a holder stopped mid-evaluation until its lease expires, another holder taking
/// the conversation over and finishing it, then the first one's late commit refused, each delivery's effects once.
/// </summary>
[Collection(BuiltInRulesCollection.Name)]
public sealed class TakeoverTests(RuleSetFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(5);
    private readonly TempDirectory _data = new();
    private readonly FakeTimeProvider _time = new(Deliveries.T0);
    private readonly TestMeterFactory _meters = new();
    private readonly CancellationTokenSource _stop = new();
    private RunningStorage _running = null!;

    private Engine.Storage.Sqlite.SqliteStorage Storage => _running.Storage;

    public async Task InitializeAsync() => _running = await RunningStorage.StartAsync(_data.Path, time: _time);

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        _stop.Dispose();
        await _running.DisposeAsync();
        _meters.Dispose();
        _data.Dispose();
    }

    private Dispatcher Dispatcher(InstanceLease instance, WorkHints hints, Func<RuleSetGeneration> rules)
    {
        var options = new DispatchOptions { SweepInterval = TimeSpan.FromMilliseconds(100), RetryDelay = TimeSpan.FromMilliseconds(10) };
        var metrics = new EngineMetrics(_meters);
        var processor = new DeliveryProcessor(
            Storage, rules, new EvaluationPipeline(PipelineSettings.Default), new Watchdog(options.RuleTimeout, TimeProvider.System, NullLogger<Watchdog>.Instance),
            options, TimeProvider.System, metrics, NullLogger<DeliveryProcessor>.Instance);
        var dispatcher = new Dispatcher(Storage, hints, () => instance, processor, options, TimeProvider.System, metrics, NullLogger<Dispatcher>.Instance);
        _ = dispatcher.RunAsync(_stop.Token);
        return dispatcher;
    }

    private static async Task Until(string condition, Func<Task<bool>> holds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!await holds())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 15 s for {condition}.");
            }

            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task AHolderStoppedPastItsLease_IsTakenOver_AndItsLateCommitIsRefused_EachDeliveryOnce()
    {
        var first = await Storage.JoinAsync("first", LeaseTime, default);
        var second = await Storage.JoinAsync("second", LeaseTime, default);
        var body = Encoding.UTF8.GetBytes(Fixtures.Json("convo.status.closed").ToJsonString());
        var stored = await Storage.StoreAsync(new NewDelivery(Events.ConversationStatus, body, SHA256.HashData(body), 1187, Deliveries.T0), default);

        // The first holder claims the conversation (from the store's hint) and stops in its evaluation.
        using var resume = new ManualResetEventSlim();
        var reached = new TaskCompletionSource();
        var firstHolder = Dispatcher(first, _running.Hints, () =>
        {
            reached.TrySetResult();
            resume.Wait();
            return fixture.Rules;
        });
        await reached.Task.WaitAsync(TimeSpan.FromSeconds(15));

        // Its lease runs out (it renews nothing); the second holder's sweep takes the conversation over and finishes it.
        _time.Advance(LeaseTime + TimeSpan.FromSeconds(1));
        Assert.True(await Storage.RenewAsync(second, LeaseTime, default));
        var secondHolder = Dispatcher(second, new WorkHints(), () => fixture.Rules);
        await Until("the second holder to commit", async () => (await Storage.GetAsync(stored.DeliveryId, default))!.Outcome == DeliveryOutcome.Done);
        var done = await Storage.GetAsync(stored.DeliveryId, default);

        // The first holder goes on: its commit is refused and changes nothing.
        resume.Set();
        await Until("the first holder's lane to end", () => Task.FromResult(firstHolder.Claimed == 0 && firstHolder.InProgress == 0));
        await Until("the second holder to release its claim", () => Task.FromResult(secondHolder.Claimed == 0));

        var after = await Storage.GetAsync(stored.DeliveryId, default);
        Assert.Equal(done! with { Result = null }, after! with { Result = null });
        Assert.Equal(done.Result!.ToJson(), after.Result!.ToJson());
        Assert.Equal(1, after.Attempts);
        var change = Assert.Single(after.Result!.StatusChanges);
        Assert.Equal(Status.Closed, change.To);
        var activity = await Storage.ActivityAsync(Deliveries.T0.AddDays(-1), DateTimeOffset.MinValue, default);
        Assert.Equal(1, activity.StatusChangesPerHour.Sum(h => h.Count));
        Assert.Equal(Status.Closed, (await Storage.LoadConversationAsync(1187, DateTimeOffset.MinValue, default)).Known!.Status);
    }

    [Fact]
    public async Task ALiveHoldersClaim_IsNotTakenOver()
    {
        var first = await Storage.JoinAsync("first", LeaseTime, default);
        var second = await Storage.JoinAsync("second", LeaseTime, default);
        var body = Encoding.UTF8.GetBytes(Fixtures.Json("convo.status.closed").ToJsonString());
        await Storage.StoreAsync(new NewDelivery(Events.ConversationStatus, body, SHA256.HashData(body), 1187, Deliveries.T0), default);

        var claim = Assert.Single(await Storage.ClaimAsync(first, null, 10, default));
        _time.Advance(LeaseTime - TimeSpan.FromSeconds(1));
        Assert.Empty(await Storage.ClaimAsync(second, null, 10, default));
        Assert.True(await Storage.RenewAsync(first, LeaseTime, default));
        _time.Advance(LeaseTime - TimeSpan.FromSeconds(1));
        Assert.Empty(await Storage.ClaimAsync(second, [1187], 10, default));

        // The holder's own claim comes back unchanged; once its lease expires the other takes it with the next epoch.
        Assert.Equal(claim, Assert.Single(await Storage.ClaimAsync(first, [1187], 10, default)));
        _time.Advance(LeaseTime);
        var taken = Assert.Single(await Storage.ClaimAsync(second, null, 10, default));
        Assert.Equal((second.Id, claim.Epoch + 1), (taken.InstanceId, taken.Epoch));
        await Assert.ThrowsAsync<ClaimLostException>(() => Storage.ReleaseAsync(claim, default));
    }
}
