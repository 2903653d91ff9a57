using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Instances;

/// <summary>
/// Named leases of singleton work on the real SQLite store, on a clock the tests move (the store's): one holder at a time,
/// a takeover only once the lease ended, with a new epoch that fences the first holder's writes; a held lease renewed,
/// shared within the process, given back by its last user, and lost when another instance took it.
/// </summary>
public sealed class NamedLeaseTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _data = new();
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly TestMeterFactory _meters = new();
    private RunningStorage _running = null!;
    private InstanceLease _a = null!;
    private InstanceLease _b = null!;

    private SqliteStorage Storage => _running.Storage;

    public async Task InitializeAsync()
    {
        _running = await RunningStorage.StartAsync(_data.Path, time: _clock);
        _a = await Storage.JoinAsync("a", TimeSpan.FromHours(1), default);
        _b = await Storage.JoinAsync("b", TimeSpan.FromHours(1), default);
    }

    public async Task DisposeAsync()
    {
        await _running.DisposeAsync();
        _meters.Dispose();
        _data.Dispose();
    }

    private NamedLeases Leases(InstanceLease instance) =>
        new(Storage, () => instance, LeaseTime, _clock, new EngineMetrics(_meters), NullLogger<NamedLeases>.Instance);

    [Fact]
    public async Task ASecondHolder_CannotTakeALiveLease_AndTakesItOnceItEnded_WithANewEpoch()
    {
        var first = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _a, LeaseTime, default);
        var refused = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        _clock.Advance(LeaseTime - TimeSpan.FromSeconds(1));
        var stillRefused = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        var whileHeld = Assert.Single(await Storage.ListLeasesAsync(default));
        _clock.Advance(TimeSpan.FromSeconds(2));
        var second = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        var firstAgain = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _a, LeaseTime, default);

        Assert.Equal((_a.Id, 1L, Start + LeaseTime), (first!.InstanceId, first.Epoch, first.ExpiresAt));
        Assert.Null(refused);
        Assert.Null(stillRefused);
        Assert.Equal((_a.Id, 1L), (whileHeld.InstanceId, whileHeld.Epoch));
        Assert.Equal((_b.Id, 2L, _clock.GetUtcNow() + LeaseTime), (second!.InstanceId, second.Epoch, second.ExpiresAt));
        Assert.Null(firstAgain);
    }

    [Fact]
    public async Task TheFirstHoldersWatermark_IsRefusedOnceAnotherTookTheLease_AndNothingIsWritten()
    {
        var first = (await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _a, LeaseTime, default))!;
        await Storage.AdvanceWatermarkAsync(Start.AddHours(-2), Start, first, default);
        _clock.Advance(LeaseTime + TimeSpan.FromSeconds(1));
        var second = (await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default))!;

        var refused = await Assert.ThrowsAsync<ClaimLostException>(() => Storage.AdvanceWatermarkAsync(Start.AddHours(-1), _clock.GetUtcNow(), first, default));
        var afterRefusal = await Storage.LoadWatermarkAsync(default);
        await Storage.AdvanceWatermarkAsync(Start.AddMinutes(-30), _clock.GetUtcNow(), second, default);

        Assert.Contains($"instance {_b.Id} holds it at epoch 2", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was written", refused.Message, StringComparison.Ordinal);
        Assert.Equal(Start.AddHours(-2), afterRefusal);
        Assert.Equal(Start.AddMinutes(-30), await Storage.LoadWatermarkAsync(default));
    }

    [Fact]
    public async Task AWatermarkUnderALeaseNeverTaken_IsRefused()
    {
        var invented = new NamedLease(NamedLeases.Reconciliation, _a.Id, 1, Start + LeaseTime);

        var refused = await Assert.ThrowsAsync<ClaimLostException>(() => Storage.AdvanceWatermarkAsync(Start, Start, invented, default));

        Assert.Contains("not held by anyone", refused.Message, StringComparison.Ordinal);
        Assert.Null(await Storage.LoadWatermarkAsync(default));
    }

    [Fact]
    public async Task AHolderThatLeaves_FreesItsLeaseAtOnce()
    {
        await Storage.TryAcquireAsync(NamedLeases.Retention, _a, LeaseTime, default);
        await Storage.LeaveAsync(_a, default);

        var taken = await Storage.TryAcquireAsync(NamedLeases.Retention, _b, LeaseTime, default);

        Assert.Equal((_b.Id, 2L), (taken!.InstanceId, taken.Epoch));
    }

    [Fact]
    public async Task AHeldLease_IsRenewedWhileHeld_SharedWithinTheProcess_AndGivenBackByItsLastUser()
    {
        var leases = Leases(_a);
        var held = await leases.TryHoldAsync(NamedLeases.Reconciliation, default);
        var shared = await leases.TryHoldAsync(NamedLeases.Reconciliation, default);

        _clock.Advance(leases.RenewEvery);
        await Until("the lease to be renewed", () => Task.FromResult(held!.Lease.ExpiresAt == _clock.GetUtcNow() + LeaseTime));
        _clock.Advance(LeaseTime - TimeSpan.FromSeconds(1)); // past its first end: renewed meanwhile
        await Until("the lease to be renewed again", () => Task.FromResult(held!.Lease.ExpiresAt > Start + LeaseTime + leases.RenewEvery));
        var refusedWhileHeld = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        await held!.DisposeAsync();
        var refusedWhileShared = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        await shared!.DisposeAsync();
        var taken = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);

        Assert.Same(held, shared);
        Assert.Equal(1, held.Lease.Epoch);
        Assert.False(held.IsLost);
        Assert.Null(refusedWhileHeld);
        Assert.Null(refusedWhileShared);
        Assert.Equal((_b.Id, 2L), (taken!.InstanceId, taken.Epoch));
    }

    [Fact]
    public async Task AHeldLease_IsLostWhenAnotherInstanceTookIt_ItsWorkIsCancelled_AndTheNextTakingStartsAfresh()
    {
        var leases = Leases(_a);
        var held = (await leases.TryHoldAsync(NamedLeases.Retention, default))!;
        var lost = new TaskCompletionSource();
        using var registration = held.Lost.Register(lost.SetResult);

        // This instance's lease ends (as when it stops renewing it); another instance takes the lease.
        await Storage.LeaveAsync(_a, default);
        var next = await Storage.JoinAsync("c", TimeSpan.FromHours(1), default);
        var takenOver = await Storage.TryAcquireAsync(NamedLeases.Retention, next, LeaseTime, default);
        _clock.Advance(leases.RenewEvery);
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var again = await leases.TryHoldAsync(NamedLeases.Retention, default);
        var holder = await leases.HolderAsync(NamedLeases.Retention, default);
        await held.DisposeAsync();

        Assert.Equal(2, takenOver!.Epoch);
        Assert.True(held.IsLost);
        Assert.Equal("another instance holds it now", held.LostReason);
        Assert.Null(again);
        Assert.Equal((next.Id, "c", 2L), (holder!.Lease.InstanceId, holder.InstanceName, holder.Lease.Epoch));
        Assert.Equal(next.Id, Assert.Single(await Storage.ListLeasesAsync(default)).InstanceId); // the lost lease's release changed nothing
    }

    [Fact]
    public async Task AHeldLease_ThatCannotBeRenewed_IsLostAtItsEnd_NotBefore()
    {
        var log = new CollectingLogger<NamedLeases>();
        var leases = new NamedLeases(Storage, () => _a, LeaseTime, _clock, new EngineMetrics(_meters), log);
        var held = (await leases.TryHoldAsync(NamedLeases.Reconciliation, default))!;
        var lost = new TaskCompletionSource();
        using var registration = held.Lost.Register(lost.SetResult);
        Storage.Complete(); // the store takes no more writes: every renewal fails

        _clock.Advance(leases.RenewEvery);
        await Until("a renewal to fail", () => Task.FromResult(log.Entries.Any(e => e.Message.StartsWith("Could not renew the lease 'reconciliation'", StringComparison.Ordinal))));
        var lostEarly = held.IsLost;
        await Until("the lease to be lost at its end", () =>
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            return Task.FromResult(lost.Task.IsCompleted);
        });

        Assert.False(lostEarly);
        Assert.True(_clock.GetUtcNow() >= Start + LeaseTime, $"lost at {_clock.GetUtcNow():o}, before its end");
        Assert.StartsWith("it could not be renewed before it ended at 2026-12-01 08:00:30Z", held.LostReason, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 22: a standby looked again only every quarter of <c>Leases:Time</c> (7.5 s), so the lease of a holder that died
    /// passed on up to that long after the holder's instance lease ended; it now looks again just after the moment the lease
    /// could be free.
    /// </summary>
    [Fact]
    public async Task AnInstanceStandingBy_TakesTheLeaseMomentsAfterItsHoldersInstanceLeaseEnded_NotAQuarterOfTheLeaseTimeLater()
    {
        var instanceLease = TimeSpan.FromSeconds(3);
        var dead = await Storage.JoinAsync("dead", instanceLease, default); // never renewed: it died
        await Storage.TryAcquireAsync(NamedLeases.Retention, dead, LeaseTime, default);
        var standby = Leases(_b);
        var stood = new TaskCompletionSource<LeaseHolder>(TaskCreationOptions.RunContinuationsAsynchronously);
        var taken = new TaskCompletionSource<DateTimeOffset>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();
        var run = standby.RunWhileHoldingAsync(
            NamedLeases.Retention,
            async (held, ct) =>
            {
                taken.TrySetResult(_clock.GetUtcNow());
                await Task.Delay(Timeout.Infinite, ct);
            },
            (holder, _) =>
            {
                stood.TrySetResult(holder);
                return Task.CompletedTask;
            },
            stop.Token);

        var holder = await stood.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await Until("the standby to take the lease", () =>
        {
            _clock.Advance(TimeSpan.FromMilliseconds(100));
            return Task.FromResult(taken.Task.IsCompleted);
        });
        await stop.CancelAsync();
        await run;

        Assert.Equal((dead.Id, Start + instanceLease), (holder.Lease.InstanceId, holder.InstanceExpiresAt));
        var at = await taken.Task;
        Assert.True(at >= Start + instanceLease && at < Start + TimeSpan.FromSeconds(6), $"taken {at - Start} after the start; the holder's instance lease ended after {instanceLease}");
        Assert.Equal(TimeSpan.FromMilliseconds(50), standby.StandByFor(holder with { InstanceExpiresAt = _clock.GetUtcNow().AddSeconds(-1) }));
        Assert.Equal(standby.RenewEvery, standby.StandByFor(holder with { InstanceExpiresAt = _clock.GetUtcNow().AddHours(1) }));
        Assert.Equal(TimeSpan.FromSeconds(2.05), standby.StandByFor(holder with { InstanceExpiresAt = _clock.GetUtcNow().AddSeconds(2) }));
    }

    [Fact]
    public async Task TheOverview_SaysWhoHoldsWhat()
    {
        await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        await Storage.TryAcquireAsync(NamedLeases.Retention, _a, LeaseTime, default);
        await Storage.ReleaseAsync((await Storage.TryAcquireAsync(NamedLeases.Retention, _a, LeaseTime, default))!, default);

        var overview = await Leases(_a).OverviewAsync(TimeSpan.FromDays(1), _a.Id, default);

        Assert.Equal([_b.Id, _a.Id], overview.Instances.Select(i => i.Id));
        Assert.All(overview.Instances, i => Assert.True(i.Alive));
        var reconciliation = Assert.Single(overview.Leases, l => l.Lease.Name == NamedLeases.Reconciliation);
        Assert.Equal((_b.Id, "b", true), (reconciliation.Lease.InstanceId, reconciliation.InstanceName, reconciliation.Held));
        var retention = Assert.Single(overview.Leases, l => l.Lease.Name == NamedLeases.Retention);
        Assert.False(retention.Held); // given back
        Assert.Equal(_a.Id, overview.Self);
    }

    private static async Task Until(string what, Func<Task<bool>> holds)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(20);
        while (!await holds())
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 20 s for {what}.");
            }

            await Task.Delay(10);
        }
    }
}
