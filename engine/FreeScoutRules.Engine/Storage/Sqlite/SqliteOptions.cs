namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>How the embedded SQLite store keeps its database (section <c>Storage</c>, beside <see cref="StorageOptions.DataDirectory"/>).</summary>
internal sealed class SqliteOptions
{
    /// <summary>The data directory; the database is <c>freescout-rules.db</c> in it (<see cref="StorageOptions.DataDirectory"/>).</summary>
    public string DataDirectory { get; set; } = new StorageOptions().DataDirectory;

    /// <summary>
    /// When true (the default) every commit is fsynced (<c>synchronous=FULL</c>): a delivery that got
    /// a 2xx survives a crash or power loss. False trades that for speed (<c>NORMAL</c>: survives a
    /// process crash, not a power loss).
    /// </summary>
    public bool Durable { get; set; } = true;

    /// <summary>Most write operations committed in one transaction by the single writer. Default 512.</summary>
    public int MaxBatch { get; set; } = 512;

    /// <summary>
    /// WAL pages after which a commit also copies the log into the database file (SQLite's
    /// <c>wal_autocheckpoint</c>). Requests wait behind a checkpoint, so small and frequent ones keep
    /// the acknowledgement p99 low: 200 halved it against SQLite's 1,000 (docs/benchmarks.md). Default 200.
    /// </summary>
    public int CheckpointPages { get; set; } = 200;

    public string DatabasePath => Path.Combine(DataDirectory, "freescout-rules.db");
}
