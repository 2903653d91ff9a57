using System.Globalization;
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

    /// <summary>
    /// How long opening a connection may take unless the connection string says (<c>Timeout</c>; Npgsql's is 15 s): a
    /// database that does not answer (down, or cut off by the network) is reported within this.
    /// </summary>
    internal static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long one statement may wait for its answer unless the connection string says (<c>Command Timeout</c>; Npgsql's is
    /// 30 s). Every statement of the store is short (an index seek or a small batch; a migration has no limit): a statement
    /// unanswered for this long means a database cut off (a partition drops packets silently, and TCP would wait for
    /// minutes), so the operation fails (after Npgsql's cancellation attempt, <c>Cancellation Timeout</c>, 2 s) and its
    /// caller says so and tries again, rather than hanging.
    /// </summary>
    internal static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The server ends a session of the store left idle inside a transaction for this long
    /// (<c>idle_in_transaction_session_timeout</c>, set for the store's sessions unless the connection string's
    /// <c>Options</c> sets it): a process paused or cut off between a transaction's statements would otherwise keep the
    /// row locks it took (a conversation's row) until TCP gives up, hours later, and no other instance could store, claim or
    /// fire for that conversation meanwhile. The store's transactions never wait between statements (their work is in
    /// memory); the value is the default <c>Dispatch:LeaseTime</c>, after which such a process's work is taken over anyway.
    /// </summary>
    internal static readonly TimeSpan IdleInTransactionTimeout = TimeSpan.FromSeconds(3);

    public PostgresDatabase(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        WithDefaults(builder.ConnectionStringBuilder, connectionString);
        _dataSource = builder.Build();

        // The listener's connection: its own, never from the pool (a session that LISTENs), named in pg_stat_activity,
        // with TCP keepalives so that a connection cut off is noticed.
        var listener = new NpgsqlDataSourceBuilder(connectionString);
        WithDefaults(listener.ConnectionStringBuilder, connectionString);
        listener.ConnectionStringBuilder.Pooling = false;
        listener.ConnectionStringBuilder.Multiplexing = false; // a connection of its own, which Npgsql's multiplexing (pooled) cannot be
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

            await using (var table = new NpgsqlCommand(PostgresMigrations.SchemaTable, connection, transaction))
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
                // A newer release migrated it (a rolling upgrade under way, or this instance is the one left behind): run
                // on it when that release recorded this one as compatible (its migrations since only added).
                int compatibleFrom;
                await using (var read = new NpgsqlCommand(CompatibleFromQuery, connection, transaction))
                {
                    compatibleFrom = (int)(await read.ExecuteScalarAsync(cancellationToken))!;
                }

                await transaction.CommitAsync(cancellationToken);
                if (compatibleFrom > PostgresMigrations.Current)
                {
                    throw new StorageException(
                        $"{Where}: the database is at schema version {version}, newer than this release's {PostgresMigrations.Current}: a newer release "
                        + $"migrated it and removed what releases before schema {compatibleFrom} use. Run that release (or a newer one); this one "
                        + "would misread what it wrote.",
                        new InvalidOperationException("schema version " + version));
                }

                if (logger is not null)
                {
                    LogNewerSchema(logger, Where, version, PostgresMigrations.Current);
                }

                return version;
            }

            if (version == PostgresMigrations.Current)
            {
                await transaction.CommitAsync(cancellationToken);
                return version;
            }

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            for (var next = version; next < PostgresMigrations.Current; next++)
            {
                // No time limit: a migration of a large table may take minutes (the database is reached; each migration is one
                // statement batch under the lock).
                await using var migrate = new NpgsqlCommand(PostgresMigrations.All[next], connection, transaction) { CommandTimeout = 0 };
                await migrate.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var record = new NpgsqlCommand(
                "INSERT INTO fsr_schema (id, version, migrated_at, compatible_from) VALUES (1, $1, clock_timestamp(), $2) "
                + "ON CONFLICT (id) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at, compatible_from = excluded.compatible_from",
                connection, transaction))
            {
                record.Parameters.AddWithValue(PostgresMigrations.Current);
                record.Parameters.AddWithValue(PostgresMigrations.CompatibleFrom(PostgresMigrations.Current));
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

    /// <summary>The oldest schema version whose release runs on the database, recorded with its version (schema 3 on).</summary>
    private const string CompatibleFromQuery = "SELECT compatible_from FROM fsr_schema WHERE id = 1";

    /// <summary>
    /// Whether this release reads the database: at its own schema, or at a newer one whose release recorded this one as
    /// still compatible (expand-only changes since). Only a newer schema is read from the database.
    /// </summary>
    public async Task<bool> ReadableAsync(int version, CancellationToken cancellationToken = default)
    {
        if (version <= PostgresMigrations.Current)
        {
            return version == PostgresMigrations.Current;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var read = new NpgsqlCommand(CompatibleFromQuery, connection);
        return await read.ExecuteScalarAsync(cancellationToken) is int compatibleFrom && compatibleFrom <= PostgresMigrations.Current;
    }

    /// <summary>A new connection for <c>LISTEN</c>: not pooled, its application name ending in <c>(listener)</c>.</summary>
    public async Task<NpgsqlConnection> OpenListenerAsync(CancellationToken cancellationToken) => await _listenerSource.OpenConnectionAsync(cancellationToken);

    /// <summary>
    /// The store's settings on <paramref name="settings"/> where <paramref name="connectionString"/> does not set them:
    /// <see cref="AutoPrepared"/>, <c>No Reset On Close</c>, <see cref="ConnectTimeout"/>, <see cref="CommandTimeout"/>, <see cref="IdleInTransactionTimeout"/>.
    /// </summary>
    internal static void WithDefaults(NpgsqlConnectionStringBuilder settings, string connectionString)
    {
        var given = new NpgsqlConnectionStringBuilder(connectionString);
        // Npgsql's ContainsKey says whether a keyword exists, set or not; the string it writes back names, under their
        // canonical keywords, only those set.
        var set = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = given.ConnectionString }.Keys
            .Cast<string>().ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (!set.Contains("Max Auto Prepare"))
        {
            settings.MaxAutoPrepare = AutoPrepared;
        }

        if (!set.Contains("No Reset On Close"))
        {
            // Npgsql resets a pooled connection's session when it is returned (RESET ALL, SET SESSION AUTHORIZATION DEFAULT,
            // pg_advisory_unlock_all, … sent with the next command): three statements the server runs per checkout, more
            // than some of the store's own (measured: 3.7 checkouts per delivery). The store keeps no session state: its
            // settings are the connection string's, its advisory locks transaction-level, LISTEN on a connection of its own.
            settings.NoResetOnClose = true;
        }

        if (!set.Contains("Timeout"))
        {
            settings.Timeout = (int)ConnectTimeout.TotalSeconds;
        }

        if (!set.Contains("Command Timeout"))
        {
            settings.CommandTimeout = (int)CommandTimeout.TotalSeconds;
        }

        if (given.Options?.Contains("idle_in_transaction_session_timeout", StringComparison.OrdinalIgnoreCase) != true)
        {
            var idle = string.Create(CultureInfo.InvariantCulture, $"-c idle_in_transaction_session_timeout={(int)IdleInTransactionTimeout.TotalMilliseconds}");
            settings.Options = string.IsNullOrWhiteSpace(given.Options) ? idle : $"{given.Options} {idle}";
        }
    }

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

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "{Where}: the database is at schema version {Version}, migrated by a newer release; this release (schema {Current}) runs on it, as that release recorded (its changes since only added). Upgrade this instance too: a rolling upgrade is meant to end")]
    private static partial void LogNewerSchema(ILogger logger, string where, int version, int current);
}
