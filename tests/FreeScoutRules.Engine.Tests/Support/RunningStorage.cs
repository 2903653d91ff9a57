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

    private RunningStorage(SqliteStorage storage)
    {
        Storage = storage;
        _writer = storage.RunAsync(default);
    }

    public SqliteStorage Storage { get; }

    public static async Task<RunningStorage> StartAsync(string dataDirectory, ILogger<InboxWriter>? logger = null)
    {
        var storage = new SqliteStorage(new StorageOptions { DataDirectory = dataDirectory, Durable = false }, logger ?? NullLogger<InboxWriter>.Instance);
        await storage.InitializeAsync(default);
        return new RunningStorage(storage);
    }

    public async ValueTask DisposeAsync()
    {
        Storage.Complete();
        await _writer;
    }
}
