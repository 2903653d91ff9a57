namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// Where the engine keeps its local files, whatever the store: the data directory (the embedded SQLite database, the
/// rules' compile cache, the console's keys). How a store keeps its data is its own settings' business
/// (<c>Storage/Sqlite/SqliteOptions</c>), bound from the same section.
/// </summary>
internal sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>The data directory. Default <c>data</c>.</summary>
    public string DataDirectory { get; set; } = "data";
}
