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

    /// <param name="dataDirectory">Where the database is.</param>
    /// <param name="logger">The writer's log.</param>
    /// <param name="time">The store's clock.</param>
    /// <param name="mutations">Deliberate breaks (the contract suite's mutation test).</param>
    public static async Task<RunningStorage> StartAsync(
        string dataDirectory, ILogger<InboxWriter>? logger = null, TimeProvider? time = null, SqliteMutation mutations = SqliteMutation.None)
    {
        var hints = new WorkHints();
        var storage = new SqliteStorage(
            new SqliteOptions { DataDirectory = dataDirectory, Durable = false }, logger ?? NullLogger<InboxWriter>.Instance, readOnly: false, hints, time, mutations);
        await storage.InitializeAsync(default);
        return new RunningStorage(storage, hints);
    }

    public async ValueTask DisposeAsync()
    {
        Storage.Complete();
        await _writer;
    }
}
