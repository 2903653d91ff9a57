namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// Which store the engine runs on, and where it keeps its local files whatever the store: the data directory (the
/// embedded SQLite database, the rules' compile cache, the console's keys). How a store keeps its data is its own
/// settings' business (<c>Storage/Sqlite/SqliteOptions</c>, bound from the same section;
/// <c>Storage/Postgres/PostgresOptions</c>, the connection string <c>ConnectionStrings:Postgres</c>).
/// </summary>
internal sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>The embedded SQLite store in the data directory (the default).</summary>
    public const string Sqlite = "sqlite";

    /// <summary>A PostgreSQL database that any number of instances share (<c>ConnectionStrings:Postgres</c>).</summary>
    public const string Postgres = "postgres";

    /// <summary>The store: <see cref="Sqlite"/> (default) or <see cref="Postgres"/>.</summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>Whether the store is PostgreSQL (the provider's name in any case).</summary>
    public bool IsPostgres => string.Equals(Provider, Postgres, StringComparison.OrdinalIgnoreCase);

    /// <summary>The data directory. Default <c>data</c>.</summary>
    public string DataDirectory { get; set; } = "data";
}
