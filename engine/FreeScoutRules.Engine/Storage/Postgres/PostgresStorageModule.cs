using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// The PostgreSQL store's entry points, the only ones the rest of the engine and the host name: its registration behind
/// every storage port for <c>serve</c>, a server's database opened for reading for the CLI verbs, and what is wrong
/// with a connection string. Its settings are <see cref="PostgresOptions"/>.
/// </summary>
internal static class PostgresStorageModule
{
    /// <summary>Registers one PostgreSQL store behind every storage port; it announces committed work on <see cref="WorkHints"/> (and other instances' through <c>LISTEN</c>), on the container's clock.</summary>
    public static IServiceCollection AddPostgresStorage(this IServiceCollection services)
    {
        services.TryAddSingleton<WorkHints>();
        services.AddSingleton(sp => new PostgresStorage(
            sp.GetRequiredService<IOptions<PostgresOptions>>().Value.ConnectionString!, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<WorkHints>(), sp.GetRequiredService<ILogger<PostgresStorage>>()));
        services.AddSingleton<IInbox>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<ILeases>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<IDeliveryHistory>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<IOutbox>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<ITimers>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<IRuleGenerationLog>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<IStorageLifetime>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<IRetentionStore>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<IReconciliationStore>(sp => sp.GetRequiredService<PostgresStorage>());
        services.AddSingleton<ISharedKeys>(sp => sp.GetRequiredService<PostgresStorage>());
        return services;
    }

    /// <summary>
    /// What is wrong with <paramref name="connectionString"/> as the store's (missing, or not a connection string Npgsql
    /// reads), or <c>null</c>. The message names the problem, never the string's values (it may hold a password).
    /// </summary>
    public static string? ConnectionProblem(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return "is required with Storage:Provider=postgres: set the environment variable ConnectionStrings__Postgres (for example \"Host=db;Database=freescout_rules;Username=fsr;Passfile=/run/secrets/pgpass\").";
        }

        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            return string.IsNullOrEmpty(builder.Host) ? "names no Host." : null;
        }
        catch (ArgumentException ex)
        {
            // Npgsql's messages name the keyword or the position, not the values ("Keyword not supported: 'x'").
            return $"is not a connection string Npgsql reads: {ex.Message}";
        }
    }

    /// <summary>
    /// Opens a server's PostgreSQL database for reading, or says on <paramref name="error"/> that it cannot be reached,
    /// holds no FreeScoutRules schema, or one of another release, and returns <c>null</c>: a verb never creates or
    /// migrates a database (the server does, at start), and never writes (what writes goes through a server's admin API).
    /// </summary>
    public static async Task<StoreReader?> OpenForReadingAsync(PostgresOptions options, TextWriter error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(error);
        if (ConnectionProblem(options.ConnectionString) is { } problem)
        {
            await error.WriteLineAsync($"ConnectionStrings:Postgres {problem}");
            return null;
        }

        var database = new PostgresDatabase(options.ConnectionString!);
        int version;
        bool readable;
        try
        {
            version = await database.SchemaVersionAsync(cancellationToken);
            readable = await database.ReadableAsync(version, cancellationToken);
        }
        catch (NpgsqlException ex)
        {
            await error.WriteLineAsync($"{database.Where}: {ex.Message}");
            await database.DisposeAsync();
            return null;
        }

        if (!readable)
        {
            await error.WriteLineAsync(version == 0
                ? $"{database.Where}: no FreeScoutRules database here (start `serve` with Storage:Provider=postgres once to create it)."
                : version < PostgresMigrations.Current
                    ? $"{database.Where}: the database is at schema version {version}, this freescout-rules reads version {PostgresMigrations.Current}; start `serve` of this release once to upgrade it."
                    : $"{database.Where}: the database is at schema version {version}, newer than this freescout-rules knows ({PostgresMigrations.Current}), and that release removed what this one reads; use the release that wrote it.");
            await database.DisposeAsync();
            return null;
        }

        var storage = new PostgresStorage(database, TimeProvider.System, hints: null, NullLogger<PostgresStorage>.Instance);
        return new StoreReader(storage.Location, storage, storage, storage);
    }
}
