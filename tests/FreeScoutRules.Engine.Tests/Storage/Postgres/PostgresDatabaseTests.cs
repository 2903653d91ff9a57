using System.Diagnostics;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Tests.Support;
using Npgsql;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>
/// The store's connection settings (issue 22): bounded waits, so that a database cut off is noticed, and sessions the
/// server ends when they sit idle inside a transaction, so that a paused or partitioned instance never holds a
/// conversation's row lock for long; each left to the connection string when it sets it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresDatabaseTests(PostgresCluster cluster)
{
    [Fact]
    public void AConnectionStringWithoutThem_GetsTheStoresTimeouts()
    {
        var settings = new NpgsqlConnectionStringBuilder("Host=db;Database=fsr;Username=fsr;Options=-c search_path=fsr");

        PostgresDatabase.WithDefaults(settings, settings.ConnectionString);

        Assert.Equal((5, 10, 64, true), (settings.Timeout, settings.CommandTimeout, settings.MaxAutoPrepare, settings.NoResetOnClose));
        Assert.Equal("-c search_path=fsr -c idle_in_transaction_session_timeout=3000", settings.Options);
    }

    [Theory]
    [InlineData("Host=db;Timeout=30;Command Timeout=60;Max Auto Prepare=0;No Reset On Close=false;Options='-c idle_in_transaction_session_timeout=0'")]
    [InlineData("Host=db;timeout=30;CommandTimeout=60;MaxAutoPrepare=0;noresetonclose=false;options='-c IDLE_IN_TRANSACTION_SESSION_TIMEOUT=0'")]
    public void WhatTheConnectionStringSets_Stands(string connectionString)
    {
        var settings = new NpgsqlConnectionStringBuilder(connectionString);

        PostgresDatabase.WithDefaults(settings, connectionString);

        Assert.Equal((30, 60, 0, false), (settings.Timeout, settings.CommandTimeout, settings.MaxAutoPrepare, settings.NoResetOnClose));
        Assert.Equal("-c idle_in_transaction_session_timeout=0", settings.Options, ignoreCase: true);
    }

    [Fact]
    public async Task ASessionLeftIdleInATransaction_IsEndedByTheServer_AndItsRowLockFreed()
    {
        await using var database = new PostgresDatabase(await cluster.CreateDatabaseAsync());
        await database.InitializeAsync(cancellationToken: CancellationToken.None);
        await using (var setUp = await database.DataSource.OpenConnectionAsync())
        {
            await using var insert = new NpgsqlCommand("INSERT INTO conversations (id, last_seq) VALUES (7, 1)", setUp);
            await insert.ExecuteNonQueryAsync();
        }

        // A process that took the conversation's row lock, then stopped (paused, or cut off) before its commit.
        await using var stalled = await database.DataSource.OpenConnectionAsync();
        await using var transaction = await stalled.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand("SELECT last_seq FROM conversations WHERE id = 7 FOR UPDATE", stalled, transaction))
        {
            await take.ExecuteScalarAsync();
        }

        // Another instance storing a delivery of that conversation waits for the lock only until the server ends the stalled session.
        var waited = Stopwatch.StartNew();
        await using (var other = await database.DataSource.OpenConnectionAsync())
        {
            await using var store = new NpgsqlCommand("UPDATE conversations SET last_seq = last_seq + 1 WHERE id = 7 RETURNING last_seq", other);
            Assert.Equal(2L, await store.ExecuteScalarAsync());
        }

        waited.Stop();
        await using var late = new NpgsqlCommand("UPDATE conversations SET last_seq = 100 WHERE id = 7", stalled, transaction);
        var refused = await Assert.ThrowsAnyAsync<NpgsqlException>(() => late.ExecuteNonQueryAsync());

        Assert.InRange(waited.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10));
        Assert.Contains("idle-in-transaction timeout", refused.ToString(), StringComparison.OrdinalIgnoreCase);
        await using var check = await database.DataSource.OpenConnectionAsync();
        await using var read = new NpgsqlCommand("SELECT last_seq FROM conversations WHERE id = 7", check);
        Assert.Equal(2L, await read.ExecuteScalarAsync()); // the stalled session's late write changed nothing
    }
}
