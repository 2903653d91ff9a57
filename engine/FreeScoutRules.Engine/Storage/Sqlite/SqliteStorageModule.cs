using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// The SQLite store's entry points, the only ones the rest of the engine and the host name: its registration behind
/// every storage port for <c>serve</c>, and a server's database opened for reading for the CLI verbs. Its settings are
/// <see cref="SqliteOptions"/> (bound and validated by the host, from the <c>Storage</c> section).
/// </summary>
internal static class SqliteStorageModule
{
    /// <summary>Registers one SQLite store behind every storage port; it announces committed work on <see cref="WorkHints"/>, on the container's clock.</summary>
    public static IServiceCollection AddSqliteStorage(this IServiceCollection services)
    {
        services.TryAddSingleton<WorkHints>();
        services.AddSingleton(sp => new SqliteStorage(
            sp.GetRequiredService<IOptions<SqliteOptions>>().Value, sp.GetRequiredService<ILogger<InboxWriter>>(),
            hints: sp.GetRequiredService<WorkHints>(), time: sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IInbox>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<ILeases>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<IDeliveryHistory>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<IOutbox>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<ITimers>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<IRuleGenerationLog>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<IStorageLifetime>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<IRetentionStore>(sp => sp.GetRequiredService<SqliteStorage>());
        services.AddSingleton<IReconciliationStore>(sp => sp.GetRequiredService<SqliteStorage>());
        return services;
    }

    /// <summary>
    /// Opens a server's database (its data directory) for reading, or says on <paramref name="error"/> that there is
    /// none there, or that its schema is not this release's, and returns <c>null</c>: a verb never creates an empty
    /// database by mistake, never upgrades one (the server does, at start), and never writes (a server may be running
    /// on it; what writes goes through its admin API).
    /// </summary>
    public static StoreReader? OpenForReading(SqliteOptions options, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(error);
        if (!File.Exists(options.DatabasePath))
        {
            error.WriteLine($"{options.DatabasePath}: no database here (give the server's --data-dir).");
            return null;
        }

        var storage = new SqliteStorage(options, NullLogger<InboxWriter>.Instance, readOnly: true);
        if (storage.SchemaProblem() is { } problem)
        {
            error.WriteLine(problem);
            return null;
        }

        return new StoreReader(storage.Location, storage, storage, storage);
    }

    /// <summary>
    /// Opens a server's data directory as the source of <c>storage copy</c>: its lock taken as <c>serve</c> takes it (a
    /// server running on it makes the copy refuse, naming it; none starts on it while the copy reads), then the database
    /// read-only, in one snapshot. Or says on <paramref name="error"/> why not (no database there, a server on it, a schema of
    /// another version: the messages the other verbs give) and returns <c>null</c>. The lock goes with the source.
    /// </summary>
    /// <exception cref="StorageException">SQLite could not open or read the database.</exception>
    public static async Task<IStoreCopySource?> OpenForCopyAsync(SqliteOptions options, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(error);
        if (!File.Exists(options.DatabasePath))
        {
            await error.WriteLineAsync($"{options.DatabasePath}: no database here (give the server's --data-dir).");
            return null;
        }

        DataDirectoryLock held;
        try
        {
            held = DataDirectoryLock.Acquire(options.DataDirectory);
        }
        catch (StoreInUseException ex)
        {
            await error.WriteLineAsync(
                $"The data directory {ex.Location} is in use by a running freescout-rules process{(ex.Holder is { } pid ? $" (PID {pid})" : "")}: stop it first. "
                + "A copy of a database in use would miss what the server stores after it; FreeScout retries its webhooks while the server is stopped.");
            return null;
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            await error.WriteLineAsync(
                $"{Path.GetFullPath(options.DataDirectory)}: cannot take the data directory's lock ({ex.Message}); run the copy as the server's user.");
            return null;
        }

        try
        {
            if (new SqliteStorage(options, NullLogger<InboxWriter>.Instance, readOnly: true).SchemaProblem() is { } problem)
            {
                await error.WriteLineAsync(problem);
                held.Dispose();
                return null;
            }

            return await SqliteCopySource.OpenAsync(new SqliteDatabase(options, readOnly: true), held, cancellationToken);
        }
        catch (SqliteException ex)
        {
            held.Dispose();
            throw new StorageException($"{Path.GetFullPath(options.DatabasePath)}: {ex.Message}", ex);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }
}
