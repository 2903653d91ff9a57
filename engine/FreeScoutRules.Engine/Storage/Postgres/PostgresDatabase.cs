using Microsoft.Extensions.Logging;
using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// One PostgreSQL database as the store sees it (issue 22): a pooled <see cref="NpgsqlDataSource"/> and the schema's
/// migrations. Thread-safe.
/// </summary>
internal sealed partial class PostgresDatabase : IAsyncDisposable
{
    /// <summary>The advisory lock under which one instance at a time migrates (a constant of this store: "FSRschem").</summary>
    internal const long MigrationLock = 0x4653_5273_6368_656D;

    /// <summary>Statements prepared automatically per connection (unless the connection string says otherwise): the store runs a few dozen, often.</summary>
    internal const int AutoPrepared = 64;

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _listenerSource;

    public PostgresDatabase(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (!new NpgsqlConnectionStringBuilder(connectionString).ContainsKey("Max Auto Prepare"))
        {
            builder.ConnectionStringBuilder.MaxAutoPrepare = AutoPrepared;
        }

        _dataSource = builder.Build();

        // The listener's connection: its own, never from the pool (a session that LISTENs), named in pg_stat_activity,
        // with TCP keepalives so that a connection cut off is noticed.
        var listener = new NpgsqlDataSourceBuilder(connectionString);
        listener.ConnectionStringBuilder.Pooling = false;
        listener.ConnectionStringBuilder.ApplicationName = ListenerName(listener.ConnectionStringBuilder.ApplicationName);
        listener.ConnectionStringBuilder.TcpKeepAlive = true;
        _listenerSource = listener.Build();
        Where = Describe(connectionString);
    }

    /// <summary>Host, port and database, for messages (never the password).</summary>
    public string Where { get; }

    public NpgsqlDataSource DataSource => _dataSource;

    /// <summary>
    /// Applies the migrations this database lacks, in one transaction, under a transaction-level advisory lock: instances
    /// starting at once migrate one after the other, and the later ones find nothing left to do. Refuses a database whose
    /// schema is newer than this build's (a newer release migrated it; this one would misread it).
    /// </summary>
    /// <returns>The schema version before (0 for a new database).</returns>
    /// <exception cref="StorageException">The database could not be reached or migrated, or is newer than this build.</exception>
    public async Task<int> InitializeAsync(ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var take = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({MigrationLock})", connection, transaction))
            {
                await take.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var table = new NpgsqlCommand(
                "CREATE TABLE IF NOT EXISTS fsr_schema (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL, migrated_at timestamptz NOT NULL)",
                connection, transaction))
            {
                await table.ExecuteNonQueryAsync(cancellationToken);
            }

            int version;
            await using (var read = new NpgsqlCommand("SELECT version FROM fsr_schema WHERE id = 1", connection, transaction))
            {
                version = await read.ExecuteScalarAsync(cancellationToken) is int found ? found : 0;
            }

            if (version > PostgresMigrations.Current)
            {
                throw new StorageException(
                    $"{Where}: the database is at schema version {version}, newer than this release's {PostgresMigrations.Current}: a newer release "
                    + "migrated it. Run that release (or a newer one); this one would misread what it wrote.",
                    new InvalidOperationException("schema version " + version));
            }

            if (version == PostgresMigrations.Current)
            {
                await transaction.CommitAsync(cancellationToken);
                return version;
            }

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            for (var next = version; next < PostgresMigrations.Current; next++)
            {
                await using var migrate = new NpgsqlCommand(PostgresMigrations.All[next], connection, transaction);
                await migrate.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var record = new NpgsqlCommand(
                "INSERT INTO fsr_schema (id, version, migrated_at) VALUES (1, $1, clock_timestamp()) ON CONFLICT (id) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at",
                connection, transaction))
            {
                record.Parameters.AddWithValue(PostgresMigrations.Current);
                await record.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            if (logger is not null)
            {
                LogMigrated(logger, Where, version, PostgresMigrations.Current, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            }

            return version;
        }
        catch (NpgsqlException ex)
        {
            throw new StorageException($"{Where}: {ex.Message}", ex);
        }
    }

    /// <summary>The schema version recorded in the database (0 when none).</summary>
    public async Task<int> SchemaVersionAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var read = new NpgsqlCommand("SELECT version FROM fsr_schema WHERE id = 1", connection);
        try
        {
            return await read.ExecuteScalarAsync(cancellationToken) is int version ? version : 0;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    /// <summary>A new connection for <c>LISTEN</c>: not pooled, its application name ending in <c>(listener)</c>.</summary>
    public async Task<NpgsqlConnection> OpenListenerAsync(CancellationToken cancellationToken) => await _listenerSource.OpenConnectionAsync(cancellationToken);

    /// <summary>The application name of the listener's connection.</summary>
    internal static string ListenerName(string? applicationName) => $"{(string.IsNullOrEmpty(applicationName) ? "freescout-rules" : applicationName)} (listener)";

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _listenerSource.DisposeAsync();
    }

    private static string Describe(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
    }

    [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "{Where}: schema migrated from version {From} to {To} in {Seconds:F1} s")]
    private static partial void LogMigrated(ILogger logger, string where, int from, int to, double seconds);
}
