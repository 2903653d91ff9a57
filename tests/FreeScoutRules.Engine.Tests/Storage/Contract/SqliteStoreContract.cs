using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Storage.Contract;

/// <summary>
/// The ports' contract on the SQLite store: a new database in a temporary data directory, its writer running, on the
/// suite's clock; and what is SQLite's own (one process holds a data directory, so opening it ends earlier instances).
/// The mutation test opens it with deliberate breaks (<see cref="SqliteMutation"/>).
/// </summary>
public sealed class SqliteStoreContract : StoreContract
{
    private readonly SqliteMutation _mutations;
    private readonly TempDirectory _data = new();
    private RunningStorage? _running;

    public SqliteStoreContract()
        : this(SqliteMutation.None)
    {
    }

    internal SqliteStoreContract(SqliteMutation mutations) => _mutations = mutations;

    private protected override async Task<OpenedStore> OpenAsync(FakeTimeProvider time)
    {
        _running = await RunningStorage.StartAsync(_data.Path, time: time, mutations: _mutations);
        return new OpenedStore(StorePorts.Of(_running.Storage), _running.Hints, async () =>
        {
            await _running.DisposeAsync();
            _data.Dispose();
        });
    }

    [Fact]
    public async Task OpeningTheStore_EndsEveryInstanceOfAnEarlierProcess_SoItsClaimsAreFreeAtOnce()
    {
        var earlier = await JoinAsync("earlier", TimeSpan.FromHours(1));
        var stored = await StoreAsync(1187);
        var claim = await ClaimAsync(earlier, 1187);

        // The process stops without leaving (a crash), and the next one opens the same data directory.
        await _running!.DisposeAsync();
        _running = await RunningStorage.StartAsync(_data.Path, time: Time);
        var storage = _running.Storage;
        var next = await storage.JoinAsync("next", LeaseTime, default);
        var taken = Assert.Single(await storage.ClaimAsync(next, [1187], 10, default));

        Assert.Equal((next.Id, claim.Epoch + 1), (taken.InstanceId, taken.Epoch));
        var ended = (await storage.ListInstancesAsync(T0.AddDays(-1), default)).Single(i => i.Id == earlier.Id);
        // Ended at the opening, without a leftAt: it did not stop cleanly (a crash), and /api/status tells them apart.
        Assert.Equal((false, (DateTimeOffset?)null, T0), (ended.Alive, ended.LeftAt, ended.ExpiresAt));
        await Assert.ThrowsAsync<ClaimLostException>(() => storage.CommitEvaluationAsync(Commit(claim, stored), default));
        Assert.Equal(DeliveryOutcome.Pending, (await storage.GetAsync(stored.DeliveryId, default))!.Outcome);
    }
}
