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
    public async Task ADatabaseANewerReleaseMigratedPastWhatThisOneRuns_IsRefused_SayingWhy()
    {
        await using var database = new PostgresDatabase(await cluster.CreateDatabaseAsync());
        await database.InitializeAsync(cancellationToken: CancellationToken.None);
        var newer = PostgresMigrations.Current + 1;
        await ScalarAsync<int>(database, $"UPDATE fsr_schema SET version = {newer}, compatible_from = {newer} RETURNING version");

        var refused = await Assert.ThrowsAsync<StorageException>(() => database.InitializeAsync(cancellationToken: CancellationToken.None));

        Assert.Contains($"schema version {newer}, newer than this release's {PostgresMigrations.Current}", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"removed what releases before schema {newer} use", refused.Message, StringComparison.Ordinal);
        Assert.Equal(newer, await database.SchemaVersionAsync(CancellationToken.None)); // left as it was
    }

    [Fact]
    public async Task ADatabaseANewerReleaseOnlyExpanded_IsRunOn_AsItIs()
    {
        await using var database = new PostgresDatabase(await cluster.CreateDatabaseAsync());
        await database.InitializeAsync(cancellationToken: CancellationToken.None);
        var newer = PostgresMigrations.Current + 1;
        await ScalarAsync<int>(database, $"UPDATE fsr_schema SET version = {newer}, compatible_from = {PostgresMigrations.Current} RETURNING version");
        var logger = new CollectingLogger<PostgresMigrationTests>();

        Assert.Equal(newer, await database.InitializeAsync(logger, CancellationToken.None));

        Assert.Equal(newer, await database.SchemaVersionAsync(CancellationToken.None)); // not migrated back, not recorded again
        Assert.Equal(PostgresMigrations.Current, await ScalarAsync<int>(database, "SELECT compatible_from FROM fsr_schema"));
        Assert.Contains(logger.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains($"schema version {newer}, migrated by a newer release; this release (schema {PostgresMigrations.Current}) runs on it", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheCliVerbs_ReadANewerSchemaThatOnlyExpanded_AndRefuseOneThatContracted()
    {
        var connectionString = await cluster.CreateDatabaseAsync();
        await using var database = new PostgresDatabase(connectionString);
        await database.InitializeAsync(cancellationToken: CancellationToken.None);
        var newer = PostgresMigrations.Current + 1;
        var options = new PostgresOptions { ConnectionString = connectionString };

        await ScalarAsync<int>(database, $"UPDATE fsr_schema SET version = {newer}, compatible_from = {PostgresMigrations.Current} RETURNING version");
        var error = new StringWriter();
        var reader = await PostgresStorageModule.OpenForReadingAsync(options, error, CancellationToken.None);
        Assert.True(reader is not null, error.ToString());
        await ((IAsyncDisposable)reader.Inbox).DisposeAsync();

        await ScalarAsync<int>(database, $"UPDATE fsr_schema SET compatible_from = {newer} RETURNING version");
        Assert.Null(await PostgresStorageModule.OpenForReadingAsync(options, error, CancellationToken.None));
        Assert.Contains($"schema version {newer}, newer than this freescout-rules knows ({PostgresMigrations.Current}), and that release removed what this one reads", error.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Expand-then-contract, checked against the catalog: each migration not listed in <see cref="PostgresMigrations.Contractions"/>
    /// keeps every table and column the schema before it had, with its type, and adds only what the release before can go on
    /// writing beside: new columns of existing tables nullable or with a default, no new unique index or check on them.
    /// </summary>
    [Fact]
    public async Task EveryMigration_OnlyAdds_WhatThePreviousReleaseCanRunBeside_UnlessDeclaredAContraction()
    {
        await using var database = new PostgresDatabase(await cluster.CreateDatabaseAsync());
        await ExecuteAsync(database, PostgresMigrations.SchemaTable);
        await ExecuteAsync(database, PostgresMigrations.All[0]);
        var problems = new List<string>();
        for (var version = 2; version <= PostgresMigrations.Current; version++)
        {
            var before = await CatalogAsync(database);
            await ExecuteAsync(database, PostgresMigrations.All[version - 1]);
            var after = await CatalogAsync(database);
            if (PostgresMigrations.Contractions.ContainsKey(version))
            {
                continue;
            }

            var tables = before.Columns.Select(c => c.Table).ToHashSet();
            foreach (var column in before.Columns.Where(c => !after.Columns.Any(a => a.Table == c.Table && a.Name == c.Name && a.Type == c.Type)))
            {
                problems.Add($"migration {version} removes or retypes {column.Table}.{column.Name} ({column.Type})");
            }

            foreach (var column in after.Columns.Where(c => tables.Contains(c.Table) && !before.Columns.Any(b => b.Table == c.Table && b.Name == c.Name)))
            {
                if (!column.Nullable && !column.HasDefault)
                {
                    problems.Add($"migration {version} adds {column.Table}.{column.Name} NOT NULL without a default: the previous release's inserts fail");
                }
            }

            foreach (var constraint in after.Constraints.Except(before.Constraints).Where(c => tables.Contains(c.Table)))
            {
                problems.Add($"migration {version} adds {constraint.Kind} {constraint.Name} on {constraint.Table}: it may refuse the previous release's writes");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.True(PostgresMigrations.Current >= 3); // the check ran over real migrations
    }

    private sealed record Column(string Table, string Name, string Type, bool Nullable, bool HasDefault);

    private sealed record Constraint(string Table, string Name, string Kind);

    private static async Task<(List<Column> Columns, List<Constraint> Constraints)> CatalogAsync(PostgresDatabase database)
    {
        var columns = new List<Column>();
        await using (var command = database.DataSource.CreateCommand("""
            SELECT table_name, column_name, data_type, is_nullable = 'YES', column_default IS NOT NULL OR is_identity = 'YES'
            FROM information_schema.columns WHERE table_schema = current_schema()
            """))
        await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
        {
            while (await reader.ReadAsync(CancellationToken.None))
            {
                columns.Add(new Column(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3), reader.GetBoolean(4)));
            }
        }

        var constraints = new List<Constraint>();
        await using (var command = database.DataSource.CreateCommand("""
            SELECT t.relname, i.relname, 'a unique index' FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() AND x.indisunique
            UNION ALL
            SELECT t.relname, c.conname, 'a check or foreign key' FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() AND c.contype IN ('c', 'f')
            """))
        await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
        {
            while (await reader.ReadAsync(CancellationToken.None))
            {
                constraints.Add(new Constraint(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
            }
        }

        return (columns, constraints);
    }

    private static async Task ExecuteAsync(PostgresDatabase database, string sql)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(CancellationToken.None);
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
