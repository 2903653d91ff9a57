using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>
/// <c>storage copy</c>'s map (<see cref="StoreCopyMap"/>) against both schemas as their migrations make them, read from the
/// databases themselves (SQLite's <c>pragma_table_info</c>, PostgreSQL's <c>information_schema</c>): a table or column
/// added to either without the copy knowing fails here, before a release copies without it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class StoreCopyMapTests(PostgresCluster cluster)
{
    [Fact]
    public async Task EveryTableAndColumnOfBothSchemas_IsCopiedOrNamedAsNotCopied()
    {
        var (sqlite, postgres) = await SchemasAsync();

        Assert.Empty(StoreCopyMap.Mismatches(sqlite.Columns, postgres.Columns));
        await sqlite.Connection.DisposeAsync();
    }

    [Fact]
    public async Task AColumnOrTableAddedToEitherSchema_IsFound()
    {
        var (sqlite, postgres) = await SchemasAsync();
        await using (sqlite.Connection)
        {
            await ExecuteAsync(sqlite.Connection, "ALTER TABLE deliveries ADD COLUMN region TEXT; CREATE TABLE webhooks_seen (id INTEGER PRIMARY KEY)");
            await using (var connection = new NpgsqlConnection(postgres.ConnectionString))
            {
                await connection.OpenAsync();
                await using var alter = new NpgsqlCommand("ALTER TABLE timers ADD COLUMN snoozed bigint; ALTER TABLE installation DROP COLUMN installation_id", connection);
                await alter.ExecuteNonQueryAsync();
            }

            string[] expected =
            [
                "the source's column deliveries.region is not known to the copy",
                "the source's table webhooks_seen is not known to the copy",
                "the target has no column installation.installation_id",
                "the target's column timers.snoozed is not known to the copy",
            ];
            Assert.Equal(
                expected,
                StoreCopyMap.Mismatches(await SqliteColumnsAsync(sqlite.Connection), await PostgresColumnsAsync(postgres.ConnectionString)).Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public void ConversationsLastSeq_IsTheOnlyColumnWithoutASource_AndOnlyClaimsAreCleared()
    {
        Assert.Equal(["conversations.last_seq"], StoreCopyMap.Tables.SelectMany(t => t.Columns.Where(c => c.From == CopiedFrom.LastSequence).Select(c => $"{t.Name}.{c.Name}")));
        Assert.All(
            StoreCopyMap.Tables.SelectMany(t => t.Columns.Where(c => c.From == CopiedFrom.Cleared).Select(c => c.Name)),
            c => Assert.StartsWith("claim", c, StringComparison.Ordinal));
    }

    private async Task<((SqliteConnection Connection, IReadOnlyDictionary<string, IReadOnlyList<string>> Columns) Sqlite,
        (string ConnectionString, IReadOnlyDictionary<string, IReadOnlyList<string>> Columns) Postgres)> SchemasAsync()
    {
        var sqlite = new SqliteConnection("Data Source=:memory:");
        await sqlite.OpenAsync();
        await Migrations.ApplyAsync(sqlite, default);
        var target = await cluster.CreateDatabaseAsync();
        await using (var database = new PostgresDatabase(target))
        {
            await database.InitializeAsync(cancellationToken: default);
        }

        return ((sqlite, await SqliteColumnsAsync(sqlite)), (target, await PostgresColumnsAsync(target)));
    }

    private static async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> SqliteColumnsAsync(SqliteConnection connection)
    {
        await using var command = new SqliteCommand(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid", connection);
        return await ColumnsAsync(await command.ExecuteReaderAsync());
    }

    private static async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> PostgresColumnsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        // Every table but the migrations' own record of the schema version.
        await using var command = new NpgsqlCommand(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'fsr_schema' ORDER BY table_name, ordinal_position",
            connection);
        return await ColumnsAsync(await command.ExecuteReaderAsync());
    }

    private static async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> ColumnsAsync(System.Data.Common.DbDataReader reader)
    {
        await using var _ = reader;
        var tables = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            tables[reader.GetString(0)] = [.. tables.GetValueOrDefault(reader.GetString(0)) ?? [], reader.GetString(1)];
        }

        return tables;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql)
    {
        await using var command = new SqliteCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
