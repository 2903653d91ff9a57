using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Storage.Contract;

/// <summary>
/// The ports' contract on the PostgreSQL store (issue 22): a new database on the test cluster per check, migrated, the
/// store running on the suite's clock. What is PostgreSQL's own (several stores, as processes, on one database) is in
/// Storage/Postgres/PostgresInstancesTests.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStoreContract(PostgresCluster cluster) : StoreContract
{
    private protected override async Task<OpenedStore> OpenAsync(FakeTimeProvider time)
    {
        var running = await RunningPostgresStorage.StartAsync(await cluster.CreateDatabaseAsync(), time);
        return new OpenedStore(StorePorts.Of(running.Storage), running.Hints, running.DisposeAsync);
    }
}
