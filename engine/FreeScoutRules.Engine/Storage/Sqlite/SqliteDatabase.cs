using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Opens connections to the embedded SQLite database with the settings every connection needs
/// (WAL, busy timeout, durability), and creates or migrates the schema once at start.
/// Thread-safe. Readers open their own pooled connections; only <see cref="InboxWriter"/> writes.
/// </summary>
internal sealed partial class SqliteDatabase
{
    private readonly string _connectionString;
    private readonly string _synchronous;

    /// <param name="options">Where the database is.</param>
    /// <param name="readOnly">Open an existing database without writing to it (replay, explain).</param>
    public SqliteDatabase(SqliteOptions options, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(options);
        Path = System.IO.Path.GetFullPath(options.DatabasePath);
        if (!readOnly)
        {
            // 0700 and 0600 whatever the umask; SQLite gives -wal and -shm the database file's mode.
            PrivateFiles.CreateDirectory(options.DataDirectory);
            PrivateFiles.CreateFile(Path);
        }

        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _synchronous = options.Durable ? "FULL" : "NORMAL";
        _readOnly = readOnly;
        Readers = new ReaderPool(this);
    }

    /// <summary>Read connections kept open with their statements prepared, for the reads every delivery makes.</summary>
    public ReaderPool Readers { get; }

    private readonly bool _readOnly;

    public string Path { get; }

    /// <summary>
    /// Test-only: when set (before the first connection opens), called with the text of every statement run on any
    /// connection this database opens, readers' and the writer's alike, as SQLite finishes it (<c>sqlite3_profile</c>:
    /// the statement as prepared, parameters not expanded). The plan test (StatementPlanTests) sees through it every
    /// statement the engine really runs. Called on the thread that ran the statement.
    /// </summary>
    internal Action<string>? StatementObserver { get; set; }

    /// <summary>
    /// Test-only: like <see cref="StatementObserver"/>, for the connections that keep their statements prepared from one
    /// run to the next (the writer's, and the readers' in <see cref="Readers"/>).
    /// </summary>
    internal Action<string>? KeptStatementObserver { get; set; }

    /// <summary>Opens a connection that keeps its statements prepared: the writer's, or a kept reader's (observed by both test hooks when they are set).</summary>
    public async Task<SqliteConnection> OpenKeptAsync(CancellationToken cancellationToken = default)
    {
        var connection = await OpenAsync(cancellationToken);
        if (KeptStatementObserver is { } writer)
        {
            var all = StatementObserver;
            Action<string> both = statement =>
            {
                all?.Invoke(statement);
                writer(statement);
            };
            SQLitePCL.raw.sqlite3_profile(connection.Handle, static (object state, string statement, long _) => ((Action<string>)state)(statement), both);
        }

        return connection;
    }

    /// <summary>SQLite's own error (disk full, locked, corrupt) as the engine sees it: a <see cref="StorageException"/> naming the file.</summary>
    public StorageException Failed(SqliteException error) => new($"{Path}: {error.Message}", error);

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        if (StatementObserver is { } observer)
        {
            // Registered on every open: a pooled connection keeps its hook, registering again replaces it.
            SQLitePCL.raw.sqlite3_profile(connection.Handle, static (object state, string statement, long _) => ((Action<string>)state)(statement), observer);
        }

        await ExecuteAsync(connection, $"PRAGMA busy_timeout=10000; PRAGMA synchronous={_synchronous}; PRAGMA query_only={(_readOnly ? 1 : 0)};", cancellationToken);
        return connection;
    }

    /// <summary>The schema version of the database file (<c>PRAGMA user_version</c>; 0 for a new one), read without changing it.</summary>
    public int SchemaVersion()
    {
        using var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version;";
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Switches the file to WAL and applies pending migrations, saying so in <paramref name="logger"/>. Idempotent.</summary>
    public async Task InitializeAsync(ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;", cancellationToken);
        var from = await Migrations.CurrentVersionAsync(connection, cancellationToken);
        if (from is > 0 && from < Migrations.LatestVersion && logger is not null)
        {
            LogUpgrading(logger, Path, from, Migrations.LatestVersion);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Migrations.ApplyAsync(connection, cancellationToken);
        if (from < Migrations.LatestVersion)
        {
            // An upgrade may have rewritten whole tables through the log, and a new database's steps all went through it:
            // give its space back now (the log file keeps its high-water mark).
            await ExecuteAsync(connection, "PRAGMA wal_checkpoint(TRUNCATE);", cancellationToken);
        }

        if (from is > 0 && from < Migrations.LatestVersion && logger is not null)
        {
            LogUpgraded(logger, Migrations.LatestVersion, clock.Elapsed.TotalSeconds);
        }
    }

    /// <summary>
    /// Ends the lease of every instance the database knows that did not leave (its process no longer runs: this one holds
    /// the directory): a crash or a kill. They keep no <c>left_at</c> (that marks a clean stop), so <c>/api/status</c> tells
    /// them apart. Returns them, id and name.
    /// </summary>
    public async Task<IReadOnlyList<(long Id, string Name)>> EndInstancesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE instances SET expires_at = $at WHERE left_at IS NULL AND expires_at > $at RETURNING id, name";
        command.Parameters.AddWithValue("$at", now.ToUnixTimeMilliseconds());
        var ended = new List<(long, string)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ended.Add((reader.GetInt64(0), reader.GetString(1)));
        }

        return ended;
    }

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning,
        Message = "Upgrading the database {Path} from schema version {From} to {To}: the server starts once it is done (a large database takes a while, about 5 s per million deliveries, and needs free disk space of about the size of its deliveries table)")]
    private static partial void LogUpgrading(ILogger logger, string path, int from, int to);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Database upgraded to schema version {To} in {Seconds:F1} s")]
    private static partial void LogUpgraded(ILogger logger, int to, double seconds);

    public static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
