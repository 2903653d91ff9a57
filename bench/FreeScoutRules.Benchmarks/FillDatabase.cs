using System.Diagnostics;
using System.Globalization;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// <c>-- fill-database DIR [N]</c>: a data directory with N processed deliveries (default 5,000,000), for
/// load tests on a full database (docs/benchmarks.md §9). The schema is the engine's own (its migrations
/// create it); the rows are what months of traffic leave behind with the default retention: N deliveries
/// over the last 90 days across 1,000,000 conversations, each done with its result and one status
/// change, all of <c>convo.status</c>, the event the load tests post (so that a statement planned on the event's
/// index walks every one of them, as the dedupe lookup of 0.7.0 did: issue 20), and compressed bodies for the newest 7 days only (run <c>serve</c> with
/// <c>Retention__Bodies=7.00:00:00</c>). The conversations' known states are older than the load
/// test's snapshots, so its deliveries derive status changes as fresh ones do. Generated inside SQLite
/// (a recursive query), not through the writer: 5,000,000 take about two minutes instead of twenty.
/// </summary>
internal static class FillDatabase
{
    private const int Conversations = 1_000_000;

    public static async Task RunAsync(string directory, int count)
    {
        var options = new SqliteOptions { DataDirectory = directory, Durable = false };
        var database = new SqliteDatabase(options);
        await database.InitializeAsync();
        await using var connection = await database.OpenAsync();
        await SqliteDatabase.ExecuteAsync(connection, "PRAGMA synchronous=OFF; PRAGMA cache_size=-2000000;");
        if (await CountAsync(connection) > 0)
        {
            throw new InvalidOperationException($"{database.Path} holds deliveries already; fill an empty data directory.");
        }

        var end = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds();
        var step = TimeSpan.FromDays(90).TotalMilliseconds / count;
        var start = end - (long)(step * count);
        var withBodies = (int)(count * 7 / 90.0);
        var body = BodyEncoding.Compress(Inputs.ReadBody());
        const string result = """{"statusChanges":[{"to":"closed","via":"convo.status","at":"2025-06-02T10:27:15+00:00","byUserId":2,"by":{"kind":"user","id":2,"name":"Anna Berg"}}],"rulesFired":["status.first-seen-on-convo-status","status.record-known-state"],"actionIntents":[],"stale":false,"facts":["Delivery"],"prior":{}}""";
        var clock = Stopwatch.StartNew();
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandTimeout = 0;
        command.CommandText = $"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
            INSERT INTO deliveries (id, event, body_sha256, conversation_id, seq, received_at, outcome, attempts, processed_at, result, rules_generation, rule_failures)
            SELECT i, 'convo.status', randomblob(32), 1 + i % {Conversations}, i / {Conversations} + 1, $start + CAST(i * $step AS INTEGER), '{DeliveryOutcome.Done}', 1,
                   $start + CAST(i * $step AS INTEGER) + 5, $result, 'fill', 0
            FROM n;
            INSERT INTO status_changes (delivery_id, conversation_id, number, from_status, to_status, via, at)
            SELECT id, conversation_id, conversation_id, 'active', 'closed', 'convo.status', received_at FROM deliveries;
            INSERT INTO conversations (id, last_applied_seq, status, updated_at)
            SELECT conversation_id, MAX(seq), 'active', 1735689600000 FROM deliveries GROUP BY conversation_id;
            INSERT INTO delivery_bodies (delivery_id, body, encoding) SELECT id, $body, '{BodyEncoding.Deflate}' FROM deliveries WHERE id > $count - $withBodies;
            """;
        command.Parameters.AddWithValue("$count", count);
        command.Parameters.AddWithValue("$start", start);
        command.Parameters.AddWithValue("$step", step);
        command.Parameters.AddWithValue("$result", result);
        command.Parameters.AddWithValue("$body", body);
        command.Parameters.AddWithValue("$withBodies", withBodies);
        await command.ExecuteNonQueryAsync();
        await transaction.CommitAsync();
        await SqliteDatabase.ExecuteAsync(connection, "PRAGMA wal_checkpoint(TRUNCATE);");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{database.Path}: {count} deliveries ({withBodies} with bodies) in {Math.Min(count, Conversations)} conversations, {new FileInfo(database.Path).Length / 1e9:F2} GB, in {clock.Elapsed.TotalSeconds:F0} s"));
    }

    private static async Task<long> CountAsync(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries LIMIT 1)";
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
