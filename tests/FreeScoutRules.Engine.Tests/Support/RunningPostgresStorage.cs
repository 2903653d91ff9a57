using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>
/// A PostgreSQL store on a test database, initialized and running (its listener of other instances' work), as a
/// <c>serve</c> process runs it: one per "process" in the tests that run several on one database.
/// </summary>
internal sealed class RunningPostgresStorage : IAsyncDisposable
{
    private readonly Task _running;

    private RunningPostgresStorage(PostgresStorage storage, WorkHints hints)
    {
        Storage = storage;
        Hints = hints;
        _running = storage.RunAsync(default);
    }

    public PostgresStorage Storage { get; }

    /// <summary>What the store announces: its own committed work, and other instances' (notifications).</summary>
    public WorkHints Hints { get; }

    /// <param name="connectionString">The test database.</param>
    /// <param name="time">The store's clock.</param>
    /// <param name="logger">The store's log.</param>
    public static async Task<RunningPostgresStorage> StartAsync(string connectionString, TimeProvider? time = null, ILogger<PostgresStorage>? logger = null)
    {
        var hints = new WorkHints();
        var storage = new PostgresStorage(connectionString, time, hints, logger ?? NullLogger<PostgresStorage>.Instance);
        await storage.InitializeAsync(default);
        return new RunningPostgresStorage(storage, hints);
    }

    public async ValueTask DisposeAsync()
    {
        Storage.Complete();
        await _running;
        await Storage.DisposeAsync();
    }
}
