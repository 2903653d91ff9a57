using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Opens connections to the embedded SQLite database with the settings every connection needs
/// (WAL, busy timeout, durability), and creates or migrates the schema once at start.
/// Thread-safe. Readers open their own pooled connections; only <see cref="InboxWriter"/> writes.
/// </summary>
internal sealed class SqliteDatabase
{
    private readonly string _connectionString;
    private readonly string _synchronous;

    /// <param name="options">Where the database is.</param>
    /// <param name="readOnly">Open an existing database without writing to it (replay, explain).</param>
    public SqliteDatabase(StorageOptions options, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!readOnly)
        {
            Directory.CreateDirectory(options.DataDirectory);
        }

        Path = System.IO.Path.GetFullPath(options.DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _synchronous = options.Durable ? "FULL" : "NORMAL";
        _readOnly = readOnly;
    }

    private readonly bool _readOnly;

    public string Path { get; }

    /// <summary>SQLite's own error (disk full, locked, corrupt) as the engine sees it: a <see cref="StorageException"/> naming the file.</summary>
    public StorageException Failed(SqliteException error) => new($"{Path}: {error.Message}", error);

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        await ExecuteAsync(connection, $"PRAGMA busy_timeout=10000; PRAGMA synchronous={_synchronous}; PRAGMA query_only={(_readOnly ? 1 : 0)};", cancellationToken);
        return connection;
    }

    /// <summary>Switches the file to WAL and applies pending migrations. Idempotent.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;", cancellationToken);
        await Migrations.ApplyAsync(connection, cancellationToken);
    }

    public static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
