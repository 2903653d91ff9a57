using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.InMemory;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Instances;

/// <summary>
/// The instance lease's keeper as <c>/readyz</c> reads it (issue 22): a renewal that fails says why; renewals that hang
/// (a store cut off) show once the lease ran out; both clear with the next renewal that succeeds, and a run of failures is
/// logged once.
/// </summary>
public sealed class InstanceLeaseKeeperTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(3);
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly TestMeterFactory _meters = new();

    public void Dispose() => _meters.Dispose();

    [Fact]
    public async Task ItsProblem_SaysWhyRenewalsFail_OrThatTheyHang_AndClearsWithTheNextRenewal()
    {
        var store = new Renewals(new InMemoryStore(_clock));
        var log = new CollectingLogger<InstanceLeaseKeeper>();
        var keeper = new InstanceLeaseKeeper(store, LeaseTime, _clock, new EngineMetrics(_meters), log);
        Assert.Null(keeper.Problem); // not joined yet
        await keeper.JoinAsync("a", default);
        using var stop = new CancellationTokenSource();
        var running = keeper.RunAsync(stop.Token);
        var healthy = keeper.Problem;

        store.Failing = "PostgreSQL 127.0.0.1:5432/fsr: Failed to connect to 127.0.0.1:5432";
        await TickUntil(() => keeper.Problem is not null);
        var failing = keeper.Problem;
        await TickUntil(() => store.Count >= 3); // more failures: logged once
        store.Failing = null;
        await TickUntil(() => keeper.Problem is null);
        store.Hanging = true;
        var hangingFrom = _clock.GetUtcNow();
        await TickUntil(() => keeper.Problem is not null);
        var hanging = keeper.Problem;
        var hangingAt = _clock.GetUtcNow();
        store.Hanging = false;
        await stop.CancelAsync();
        await running;

        Assert.Null(healthy);
        Assert.StartsWith("Storage: the store does not answer: PostgreSQL 127.0.0.1:5432/fsr: Failed to connect to 127.0.0.1:5432; this instance's lease was last renewed", failing, StringComparison.Ordinal);
        Assert.Single(log.Entries, e => e.Message.StartsWith("Could not renew this instance's lease", StringComparison.Ordinal));
        Assert.Single(log.Entries, e => e.Message.StartsWith("This instance's lease is renewed again, after failures (the last: PostgreSQL 127.0.0.1:5432/fsr", StringComparison.Ordinal));
        Assert.StartsWith("Storage: the store does not answer in time: this instance's lease was last renewed", hanging, StringComparison.Ordinal);
        Assert.True(hangingAt - hangingFrom > LeaseTime - (LeaseTime / 4), $"said after {hangingAt - hangingFrom}");
    }

    /// <summary>Moves the clock a quarter of the lease time at a time (a renewal each) until <paramref name="holds"/>.</summary>
    private async Task TickUntil(Func<bool> holds)
    {
        for (var i = 0; i < 400 && !holds(); i++)
        {
            _clock.Advance(LeaseTime / 4);
            await Task.Delay(10);
        }

        Assert.True(holds(), "it never held");
    }

    /// <summary>A store whose renewals fail with a message, or hang, on demand.</summary>
    private sealed class Renewals(InMemoryStore store) : ILeases
    {
        public volatile string? Failing;
        public volatile bool Hanging;
        private int _renewals;

        public int Count => Volatile.Read(ref _renewals);

        public Task<InstanceLease> JoinAsync(string name, TimeSpan leaseTime, CancellationToken cancellationToken) => store.JoinAsync(name, leaseTime, cancellationToken);

        public async Task<bool> RenewAsync(InstanceLease instance, TimeSpan leaseTime, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _renewals);
            while (Hanging)
            {
                await Task.Delay(5, cancellationToken);
            }

            return Failing is { } failing
                ? throw new StorageException(failing, new InvalidOperationException(failing))
                : await store.RenewAsync(instance, leaseTime, cancellationToken);
        }

        public Task LeaveAsync(InstanceLease instance, CancellationToken cancellationToken) => store.LeaveAsync(instance, cancellationToken);

        public Task RecordRulesAsync(InstanceLease instance, string generation, CancellationToken cancellationToken) =>
            store.RecordRulesAsync(instance, generation, cancellationToken);

        public Task<IReadOnlyList<InstanceRecord>> ListInstancesAsync(DateTimeOffset since, CancellationToken cancellationToken) => store.ListInstancesAsync(since, cancellationToken);

        public Task<NamedLease?> TryAcquireAsync(string name, InstanceLease holder, TimeSpan leaseTime, CancellationToken cancellationToken) =>
            store.TryAcquireAsync(name, holder, leaseTime, cancellationToken);

        public Task ReleaseAsync(NamedLease lease, CancellationToken cancellationToken) => store.ReleaseAsync(lease, cancellationToken);

        public Task<IReadOnlyList<NamedLease>> ListLeasesAsync(CancellationToken cancellationToken) => store.ListLeasesAsync(cancellationToken);
    }
}
