using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>
/// The real SQLite storage on a data directory, its schema created or migrated and its writer running
/// (not durable: tests need no fsync); disposing drains and stops the writer, the files stay.
/// </summary>
internal sealed class RunningStorage : IAsyncDisposable
{
    private readonly Task _writer;

    private RunningStorage(SqliteStorage storage, WorkHints hints)
    {
        Storage = storage;
        Hints = hints;
        _writer = storage.RunAsync(default);
    }

    public SqliteStorage Storage { get; }

    /// <summary>What the store announces (committed pending work).</summary>
    public WorkHints Hints { get; } = new();

    public static async Task<RunningStorage> StartAsync(string dataDirectory, ILogger<InboxWriter>? logger = null, TimeProvider? time = null)
    {
        var hints = new WorkHints();
        var storage = new SqliteStorage(
            new StorageOptions { DataDirectory = dataDirectory, Durable = false }, logger ?? NullLogger<InboxWriter>.Instance, hints: hints, time: time);
        await storage.InitializeAsync(default);
        return new RunningStorage(storage, hints);
    }

    public async ValueTask DisposeAsync()
    {
        Storage.Complete();
        await _writer;
    }
}
