using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// A SQLite data directory as the source of <c>storage copy</c> (issue 22): its lock held as <c>serve</c> holds it (no
/// server runs on it, and none starts, while the copy reads), opened read-only, every table read in one snapshot (one
/// read transaction) and streamed row by row. Made by <see cref="SqliteStorageModule.OpenForCopyAsync"/>.
/// </summary>
internal sealed class SqliteCopySource : IStoreCopySource
{
    private readonly SqliteDatabase _database;
    private readonly DataDirectoryLock _lock;
    private readonly SqliteConnection _connection;
    private readonly SqliteTransaction _snapshot;
    private readonly List<SqliteCommand> _commands = [];

    private SqliteCopySource(SqliteDatabase database, DataDirectoryLock held, SqliteConnection connection, SqliteTransaction snapshot)
    {
        _database = database;
        _lock = held;
        _connection = connection;
        _snapshot = snapshot;
    }

    public string Location => _database.Path;

    /// <summary>Opens the read transaction in which every table is read; <paramref name="held"/> is released with the source.</summary>
    public static async Task<SqliteCopySource> OpenAsync(SqliteDatabase database, DataDirectoryLock held, CancellationToken cancellationToken)
    {
        SqliteConnection? connection = null;
        try
        {
            connection = await database.OpenAsync(cancellationToken);
            var snapshot = connection.BeginTransaction(deferred: true);
            return new SqliteCopySource(database, held, connection, snapshot);
        }
        catch (SqliteException ex)
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }

            throw database.Failed(ex);
        }
    }

    public async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> ColumnsAsync(CancellationToken cancellationToken)
    {
        var tables = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        await using var reader = await ExecuteAsync(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' ORDER BY m.name, p.cid",
            cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var table = reader.GetString(0);
            if (!tables.TryGetValue(table, out var columns))
            {
                tables[table] = columns = [];
            }

            columns.Add(reader.GetString(1));
        }

        return tables.ToDictionary(t => t.Key, t => (IReadOnlyList<string>)t.Value, StringComparer.Ordinal);
    }

    public async Task<long> CountAsync(CopyTable table, CancellationToken cancellationToken)
    {
        await using var reader = await ExecuteAsync($"SELECT COUNT(*) FROM ({Select(table)})", cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetInt64(0);
    }

    public async Task<DbDataReader> ReadAsync(CopyTable table, CancellationToken cancellationToken) => await ExecuteAsync(Select(table), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        foreach (var command in _commands)
        {
            await command.DisposeAsync();
        }

        await _snapshot.DisposeAsync(); // a read transaction: rolled back, nothing to undo
        await _connection.DisposeAsync();
        _lock.Dispose();
    }

    /// <summary>
    /// The statement that reads <paramref name="table"/>'s written columns. The conversations' <c>last_seq</c>, which SQLite
    /// does not keep, is derived as the store derives it when it stores (the largest of the conversation's delivery sequence
    /// numbers and its <c>last_applied_seq</c>: one seek in the conversation's index per row), and a conversation with
    /// deliveries but no row yet (stored, never claimed) gets one.
    /// </summary>
    internal static string Select(CopyTable table)
    {
        var columns = string.Join(", ", table.Written.Select(c => c.From switch
        {
            CopiedFrom.SameColumn => "t." + c.Name,
            CopiedFrom.LastSequence => "MAX(t.last_applied_seq, COALESCE((SELECT MAX(d.seq) FROM deliveries d WHERE d.conversation_id = t.id), 0))",
            _ => throw new InvalidOperationException($"{table.Name}.{c.Name}: no way to read it"),
        }));
        var select = $"SELECT {columns} FROM {table.Name} t";
        return table.Written.Any(c => c.From == CopiedFrom.LastSequence) ? $"{select} UNION ALL {ConversationsWithoutRow(table)}" : select;
    }

    private static string ConversationsWithoutRow(CopyTable table)
    {
        var columns = string.Join(", ", table.Written.Select(c => c.Name switch
        {
            "id" => "d.conversation_id",
            "last_seq" => "MAX(d.seq)",
            "last_applied_seq" or "claim_epoch" => "0",
            "status" or "updated_at" => "NULL",
            _ => throw new InvalidOperationException($"{table.Name}.{c.Name}: what a conversation without a row holds there is not known to the copy"),
        }));
        return $"""
            SELECT {columns} FROM deliveries d WHERE d.conversation_id IS NOT NULL GROUP BY d.conversation_id
            HAVING NOT EXISTS (SELECT 1 FROM {table.Name} c WHERE c.id = d.conversation_id)
            """;
    }

    private async Task<SqliteDataReader> ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        var command = _connection.CreateCommand();
        _commands.Add(command);
        command.Transaction = _snapshot;
        command.CommandText = sql;
        try
        {
            return await command.ExecuteReaderAsync(cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw _database.Failed(ex);
        }
    }
}
