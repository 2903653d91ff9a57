using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Tests.Support;
using Npgsql;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>The PostgreSQL store's schema (issue 22): migrated once, under a lock, by whichever instance starts first; a newer schema refused.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresMigrationTests(PostgresCluster cluster)
{
    [Fact]
    public async Task ANewDatabase_IsMigratedToTheCurrentSchema_AndTheNextStartFindsNothingToDo()
    {
        await using var database = new PostgresDatabase(await cluster.CreateDatabaseAsync());

        Assert.Equal(0, await database.InitializeAsync(cancellationToken: CancellationToken.None));
        Assert.Equal(PostgresMigrations.Current, await database.SchemaVersionAsync(CancellationToken.None));
        Assert.Equal(PostgresMigrations.Current, await database.InitializeAsync(cancellationToken: CancellationToken.None));

        // The conversation row gives sequence numbers (under its lock), and dedupe is a unique index, race-free across instances.
        Assert.Equal(1L, await ScalarAsync<long>(database, "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'conversations' AND column_name = 'last_seq'"));
        Assert.Equal(1L, await ScalarAsync<long>(database, "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'ux_deliveries_conversation_body'"));
    }

    [Fact]
    public async Task InstancesStartingAtOnce_MigrateOneAfterTheOther_AndOnlyOneMigrates()
    {
        var connectionString = await cluster.CreateDatabaseAsync();
        var databases = Enumerable.Range(0, 4).Select(_ => new PostgresDatabase(connectionString)).ToList();
        try
        {
            var before = await Task.WhenAll(databases.Select(d => Task.Run(() => d.InitializeAsync(cancellationToken: CancellationToken.None))));

            Assert.Equal(1, before.Count(v => v == 0));
            Assert.Equal(3, before.Count(v => v == PostgresMigrations.Current));
        }
        finally
        {
            foreach (var database in databases)
            {
                await database.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ADatabaseANewerReleaseMigrated_IsRefused_SayingWhy()
    {
        await using var database = new PostgresDatabase(await cluster.CreateDatabaseAsync());
        await database.InitializeAsync(cancellationToken: CancellationToken.None);
        await ScalarAsync<int>(database, $"UPDATE fsr_schema SET version = {PostgresMigrations.Current + 1} RETURNING version");

        var refused = await Assert.ThrowsAsync<StorageException>(() => database.InitializeAsync(cancellationToken: CancellationToken.None));

        Assert.Contains($"schema version {PostgresMigrations.Current + 1}, newer than this release's {PostgresMigrations.Current}", refused.Message, StringComparison.Ordinal);
        Assert.Equal(PostgresMigrations.Current + 1, await database.SchemaVersionAsync(CancellationToken.None)); // left as it was
    }

    [Fact]
    public async Task ADatabaseThatCannotBeReached_IsAStorageError_NamingWhereButNotThePassword()
    {
        var unreachable = new NpgsqlConnectionStringBuilder(cluster.ConnectionString) { Port = 1, Timeout = 2 };
        await using var database = new PostgresDatabase(unreachable.ConnectionString);

        var failed = await Assert.ThrowsAsync<StorageException>(() => database.InitializeAsync(cancellationToken: CancellationToken.None));

        Assert.StartsWith("PostgreSQL 127.0.0.1:1/postgres: ", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(unreachable.Password!, failed.ToString(), StringComparison.Ordinal);
    }

    private static async Task<T> ScalarAsync<T>(PostgresDatabase database, string sql)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync(CancellationToken.None))!;
    }
}
