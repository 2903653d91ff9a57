using System.Data;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// <c>freescout-rules storage copy</c>'s target (issue 22): copies a store (<see cref="IStoreCopySource"/>, a SQLite data
/// directory) into a PostgreSQL database, every table of <see cref="StoreCopyMap"/>, all or nothing. The database is
/// migrated to the current schema first; then, in ONE transaction: every table the copy writes or the target keeps locked
/// against writers (<c>EXCLUSIVE</c>: reads go on), the two schemas checked against the map, the target refused unless
/// empty (the installation row its migration made is replaced by the source's), each table streamed in with binary
/// <c>COPY</c> (bounded memory, whatever its size), identity sequences restarted past the copied ids, every table's rows
/// counted on both sides, statistics gathered, commit. A failure anywhere before the commit leaves the target as it was.
/// </summary>
internal sealed class PostgresStoreCopy : IAsyncDisposable
{
    /// <summary>Rows of one table between two progress reports.</summary>
    internal const int ProgressEvery = 100_000;

    private readonly PostgresDatabase _database;

    private PostgresStoreCopy(PostgresDatabase database) => _database = database;

    /// <summary>Host, port and database (never the password).</summary>
    public string Where => _database.Where;

    /// <summary>The copy into the database <paramref name="connectionString"/> names.</summary>
    /// <exception cref="StoreCopyException">Not a connection string (<see cref="StoreCopyFailure.BadTarget"/>); the message never repeats it (it may hold a password).</exception>
    public static PostgresStoreCopy To(string connectionString)
    {
        try
        {
            return new PostgresStoreCopy(new PostgresDatabase(connectionString));
        }
        catch (ArgumentException ex)
        {
            throw new StoreCopyException(
                $"The target is not a PostgreSQL connection string (Host=…;Port=5432;Database=…;Username=…;Password=…): {ex.Message}", StoreCopyFailure.BadTarget, ex);
        }
    }

    /// <summary>Copies <paramref name="source"/> into the database, reporting each table's progress to <paramref name="progress"/>.</summary>
    /// <exception cref="StorageException">The database could not be reached or migrated (the message names host, port and database).</exception>
    /// <exception cref="StoreCopyException">Refused (the target is not empty) or failed; nothing of the copy was written.</exception>
    public async Task<StoreCopyReport> CopyAsync(IStoreCopySource source, Action<StoreCopyProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var started = Stopwatch.GetTimestamp();
        await _database.InitializeAsync(cancellationToken: cancellationToken);
        try
        {
            await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
            var target = await ColumnsAsync(connection, transaction, cancellationToken);
            var mismatches = StoreCopyMap.Mismatches(
                await source.ColumnsAsync(cancellationToken),
                target.ToDictionary(t => t.Key, t => (IReadOnlyList<string>)[.. t.Value.Select(c => c.Name)], StringComparer.Ordinal));
            if (mismatches.Count > 0)
            {
                throw new StoreCopyException(
                    $"The schemas of {source.Location} and {Where} do not fit this release's copy: {string.Join("; ", mismatches)}. Nothing was written.",
                    StoreCopyFailure.Failed);
            }

            var tables = StoreCopyMap.Tables.Select(t => t.Name).Concat(StoreCopyMap.NotCopied.Keys).Concat(StoreCopyMap.TargetOnly.Keys).ToList();
            await ExecuteAsync(connection, transaction, "SET LOCAL lock_timeout = '30s'", cancellationToken);
            await ExecuteAsync(connection, transaction, $"LOCK TABLE {string.Join(", ", tables)} IN EXCLUSIVE MODE", cancellationToken);
            var occupied = new List<string>();
            foreach (var table in tables.Where(t => StoreCopyMap.Tables.FirstOrDefault(c => c.Name == t) is not { ReplacesTargetRows: true }))
            {
                if (await ScalarAsync<bool>(connection, transaction, $"SELECT EXISTS (SELECT 1 FROM {table})", cancellationToken))
                {
                    occupied.Add(table);
                }
            }

            if (occupied.Count > 0)
            {
                throw new StoreCopyException(
                    $"{Where} is not empty ({string.Join(", ", occupied)} hold rows): the copy goes into a database that holds no data yet, so that nothing of "
                    + "the source mixes with what is there (create a new one: CREATE DATABASE …). Nothing was written.",
                    StoreCopyFailure.BadTarget);
            }

            var written = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var table in StoreCopyMap.Tables)
            {
                if (table.ReplacesTargetRows)
                {
                    await ExecuteAsync(connection, transaction, $"DELETE FROM {table.Name}", cancellationToken);
                }

                written[table.Name] = await CopyTableAsync(connection, source, table, target[table.Name], progress, cancellationToken);
            }

            var nextIds = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var table in StoreCopyMap.Tables)
            {
                foreach (var identity in target[table.Name].Where(c => c.Identity))
                {
                    // The next id each identity gives is past every copied one (1 for a table copied empty). ALTER … RESTART, not
                    // setval(): setval is not undone by a rollback, the restart is (the copy stays all or nothing).
                    var next = await ScalarAsync<long>(connection, transaction, $"SELECT COALESCE(MAX({identity.Name}), 0) + 1 FROM {table.Name}", cancellationToken);
                    await ExecuteAsync(
                        connection, transaction,
                        string.Create(CultureInfo.InvariantCulture, $"ALTER TABLE {table.Name} ALTER COLUMN {identity.Name} RESTART WITH {next}"),
                        cancellationToken);
                    nextIds[$"{table.Name}.{identity.Name}"] = next;
                }
            }

            var counts = new List<CopiedCount>();
            foreach (var table in StoreCopyMap.Tables)
            {
                var count = new CopiedCount(
                    table.Name, await source.CountAsync(table, cancellationToken),
                    await ScalarAsync<long>(connection, transaction, $"SELECT COUNT(*) FROM {table.Name}", cancellationToken));
                if (count.Source != count.Target || count.Target != written[table.Name])
                {
                    throw new StoreCopyException(
                        $"{table.Name}: the source has {count.Source} rows, {written[table.Name]} were copied, the target holds {count.Target}. Nothing was written.",
                        StoreCopyFailure.Failed);
                }

                counts.Add(count);
            }

            var installation = await ScalarAsync<string?>(connection, transaction, "SELECT installation_id FROM installation WHERE id = 1", cancellationToken)
                ?? throw new StoreCopyException($"{source.Location} has no installation id (a database of schema 13 or later always has one). Nothing was written.", StoreCopyFailure.Failed);

            // Statistics for the planner now, not when autovacuum gets round to the new rows: the instances start on them at once.
            await ExecuteAsync(connection, transaction, $"ANALYZE {string.Join(", ", StoreCopyMap.Tables.Select(t => t.Name))}", cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return new StoreCopyReport(source.Location, Where, installation, counts, nextIds, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception ex) when (ex is DbException or StorageException or InvalidOperationException or InvalidCastException or OverflowException or FormatException or IOException)
        {
            // PostgreSQL says where a row was refused (the table, its line in the COPY, the column): part of the message.
            var where = ex is PostgresException { Where: { Length: > 0 } context } ? $" ({context})" : "";
            throw new StoreCopyException($"{Where}: the copy failed, and nothing of it was written: {ex.Message}{where}", StoreCopyFailure.Failed, ex);
        }
    }

    public ValueTask DisposeAsync() => _database.DisposeAsync();

    /// <summary>Streams <paramref name="table"/> from the source into the target with binary <c>COPY</c>, in the connection's transaction; the rows written.</summary>
    private static async Task<long> CopyTableAsync(
        NpgsqlConnection connection, IStoreCopySource source, CopyTable table, IReadOnlyList<TargetColumn> target, Action<StoreCopyProgress>? progress,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var writers = table.Written.Select(c => Writer(table.Name, target.Single(t => t.Name == c.Name))).ToArray();
        await using var rows = await source.ReadAsync(table, cancellationToken);
        await using var importer = await connection.BeginBinaryImportAsync(
            $"COPY {table.Name} ({string.Join(", ", table.Written.Select(c => c.Name))}) FROM STDIN (FORMAT BINARY)", cancellationToken);
        long count = 0;
        while (await rows.ReadAsync(cancellationToken))
        {
            await importer.StartRowAsync(cancellationToken);
            for (var i = 0; i < writers.Length; i++)
            {
                try
                {
                    if (rows.IsDBNull(i))
                    {
                        await importer.WriteNullAsync(cancellationToken);
                    }
                    else
                    {
                        await writers[i](rows, i, importer, cancellationToken);
                    }
                }
                catch (Exception ex) when (ex is InvalidCastException or OverflowException or FormatException)
                {
                    throw new StoreCopyException(
                        $"{table.Name}.{table.Written[i].Name} of row {count + 1} does not fit the target's {target.Single(t => t.Name == table.Written[i].Name).Type}: "
                        + $"{ex.Message} Nothing was written.",
                        StoreCopyFailure.Failed, ex);
                }
            }

            if (++count % ProgressEvery == 0)
            {
                progress?.Invoke(new StoreCopyProgress(table.Name, count, Stopwatch.GetElapsedTime(started), Done: false));
            }
        }

        // The target's constraints (keys, references) are checked as the COPY completes: a refusal fails the whole copy here.
        await importer.CompleteAsync(cancellationToken);
        progress?.Invoke(new StoreCopyProgress(table.Name, count, Stopwatch.GetElapsedTime(started), Done: true));
        return count;
    }

    /// <summary>How one value is written for the target column's type; a type the copy does not know fails the copy.</summary>
    private static Func<DbDataReader, int, NpgsqlBinaryImporter, CancellationToken, Task> Writer(string table, TargetColumn column) => column.Type switch
    {
        "integer" => (rows, i, importer, ct) => importer.WriteAsync(checked((int)rows.GetInt64(i)), NpgsqlDbType.Integer, ct),
        "bigint" => (rows, i, importer, ct) => importer.WriteAsync(rows.GetInt64(i), NpgsqlDbType.Bigint, ct),
        "double precision" => (rows, i, importer, ct) => importer.WriteAsync(rows.GetDouble(i), NpgsqlDbType.Double, ct),
        "text" => (rows, i, importer, ct) => importer.WriteAsync(rows.GetString(i), NpgsqlDbType.Text, ct),
        "bytea" => (rows, i, importer, ct) => importer.WriteAsync(rows.GetFieldValue<byte[]>(i), NpgsqlDbType.Bytea, ct),
        _ => throw new StoreCopyException($"{table}.{column.Name} is of type {column.Type} on the target, which the copy does not write. Nothing was written.", StoreCopyFailure.Failed),
    };

    /// <summary>Every table of the target's schema but the migrations' own record, with its columns in order.</summary>
    private static async Task<Dictionary<string, IReadOnlyList<TargetColumn>>> ColumnsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var tables = new Dictionary<string, List<TargetColumn>>(StringComparer.Ordinal);
        await using var command = new NpgsqlCommand(
            """
            SELECT table_name, column_name, data_type, is_identity = 'YES' FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name <> 'fsr_schema' ORDER BY table_name, ordinal_position
            """,
            connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var table = reader.GetString(0);
            if (!tables.TryGetValue(table, out var columns))
            {
                tables[table] = columns = [];
            }

            columns.Add(new TargetColumn(reader.GetString(1), reader.GetString(2), reader.GetBoolean(3)));
        }

        return tables.ToDictionary(t => t.Key, t => (IReadOnlyList<TargetColumn>)t.Value, StringComparer.Ordinal);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return await command.ExecuteScalarAsync(cancellationToken) is T value ? value : default!;
    }

    /// <summary>A column of the target as its catalog describes it.</summary>
    private sealed record TargetColumn(string Name, string Type, bool Identity);
}
