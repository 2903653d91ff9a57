using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Retention;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Retention;

/// <summary>Retention as singleton work: it prunes only in the instance holding the retention lease, and takes over once the holder's lease ends.</summary>
public sealed class PrunerLeaseTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _data = new();
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly TestMeterFactory _meters = new();
    private RunningStorage _running = null!;

    private SqliteStorage Storage => _running.Storage;

    public async Task InitializeAsync() => _running = await RunningStorage.StartAsync(_data.Path, time: _clock);

    public async Task DisposeAsync()
    {
        await _running.DisposeAsync();
        _meters.Dispose();
        _data.Dispose();
    }

    [Fact]
    public async Task RetentionDoesNotPrune_WhileAnotherInstanceHoldsItsLease_AndPrunesOnceItTookItOver()
    {
        for (var conversation = 1; conversation <= 3; conversation++)
        {
            var body = Encoding.UTF8.GetBytes($"{{\"id\":{conversation}}}");
            var stored = await Storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), conversation, Start.AddDays(-40)), default);
            await Storage.CommitEvaluationAsync(
                new EvaluationCommit(stored.DeliveryId, conversation, stored.Sequence!.Value, Start, "g", new NextState(conversation, "closed", Start), [], [], new DeliveryResult([], [], [], false))
                {
                    Claim = await Storage.ClaimForTestAsync(conversation),
                },
                default);
        }

        var a = await Storage.JoinAsync("a", TimeSpan.FromHours(1), default);
        var b = await Storage.JoinAsync("b", TimeSpan.FromHours(1), default);
        await Storage.TryAcquireAsync(NamedLeases.Retention, b, LeaseTime, default);
        var leaseLog = new CollectingLogger<NamedLeases>();
        var metrics = new EngineMetrics(_meters);
        var pruner = new Pruner(
            Storage, new NamedLeases(Storage, () => a, LeaseTime, _clock, metrics, leaseLog),
            new RetentionOptions { Bodies = TimeSpan.FromDays(30), Records = TimeSpan.FromDays(180), BatchSize = 2, BatchPause = TimeSpan.Zero },
            _clock, metrics, NullLogger<Pruner>.Instance);
        using var stop = new CancellationTokenSource();
        var running = pruner.RunAsync(stop.Token);

        await Until("the pruner to stand by", () => Task.FromResult(leaseLog.Entries.Any(e => e.Message.Contains($"Instance {b.Id} (b) holds the lease 'retention'", StringComparison.Ordinal))));
        var bodiesWhileStandingBy = (await Storage.LoadHistoryAsync(null, default)).Count(d => d.Body is not null);
        // The other instance stops renewing: its lease ends, and this one takes over at its next look.
        await Until("the bodies to be pruned", async () =>
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            return (await Storage.LoadHistoryAsync(null, default)).All(d => d.Body is null);
        });
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(3, bodiesWhileStandingBy);
        Assert.Contains(leaseLog.Entries, e => e.Message.StartsWith("Took the lease 'retention'", StringComparison.Ordinal) && e.Message.Contains("epoch 2", StringComparison.Ordinal));
        var lease = Assert.Single(await Storage.ListLeasesAsync(default));
        Assert.Equal((a.Id, 2L), (lease.InstanceId, lease.Epoch));
        Assert.True(lease.ExpiresAt <= _clock.GetUtcNow()); // given back at the stop, for another instance to take at once
    }

    private static async Task Until(string what, Func<Task<bool>> holds)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (!await holds())
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 30 s for {what}.");
            }

            await Task.Delay(20);
        }
    }
}
