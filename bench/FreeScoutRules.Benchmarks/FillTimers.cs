using System.Diagnostics;
using System.Globalization;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// <c>-- fill-timers DIR N [due in seconds]</c>: adds N pending timers to the data directory's database
/// (created with the engine's schema when missing; it may already hold a <c>fill-database</c> fill), for
/// the timer targets of issue 11 (docs/benchmarks.md §10). One timer per conversation, conversations
/// 1..N (the ones <c>fill-database</c> uses), named <c>bench.follow-up</c> as if scheduled by
/// <c>bench/load/timer-rules/follow-up.csx</c>, whose <c>TimerElapsed</c> rule handles them. Their due times
/// are one millisecond apart, the first one <c>due</c> seconds from now (default 30 days ahead; negative:
/// already due, the last one too). Generated inside SQLite (a recursive query), not through the writer.
/// </summary>
internal static class FillTimers
{
    public const string Name = "bench.follow-up";

    public static async Task RunAsync(string directory, int count, double dueInSeconds)
    {
        var options = new SqliteOptions { DataDirectory = directory, Durable = false };
        var database = new SqliteDatabase(options);
        await database.InitializeAsync();
        await using var connection = await database.OpenAsync();
        await SqliteDatabase.ExecuteAsync(connection, "PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000;");

        var now = DateTimeOffset.UtcNow;
        // Already due: every one of them, the last one too, is due a minute before now.
        var first = dueInSeconds < 0
            ? now.AddSeconds(dueInSeconds).ToUnixTimeMilliseconds() - count - 60_000
            : now.AddSeconds(dueInSeconds).ToUnixTimeMilliseconds();
        var clock = Stopwatch.StartNew();
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandTimeout = 0;
        command.CommandText = $"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
            INSERT INTO timers (conversation_id, name, number, due_at, state, rule, delivery_id, set_at)
            SELECT i, $name, 1, $first + i - 1, '{TimerState.Pending}', 'bench.ScheduleFollowUp', NULL, $now FROM n WHERE true -- (the parser needs a WHERE before an upsert's ON)
            ON CONFLICT (conversation_id, name) DO UPDATE SET number = number + 1, due_at = excluded.due_at,
                state = '{TimerState.Pending}', set_at = excluded.set_at, fired_at = NULL
            """;
        command.Parameters.AddWithValue("$count", count);
        command.Parameters.AddWithValue("$name", Name);
        command.Parameters.AddWithValue("$first", first);
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync();
        await transaction.CommitAsync();
        await SqliteDatabase.ExecuteAsync(connection, "PRAGMA wal_checkpoint(TRUNCATE);");

        await using var pending = connection.CreateCommand();
        pending.CommandText = $"SELECT COUNT(*) FROM timers WHERE state = '{TimerState.Pending}'";
        var total = (long)(await pending.ExecuteScalarAsync())!;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{database.Path}: {count} timers added ({total} pending), due {DateTimeOffset.FromUnixTimeMilliseconds(first):u} to {DateTimeOffset.FromUnixTimeMilliseconds(first + count - 1):u}, {new FileInfo(database.Path).Length / 1e6:F0} MB, in {clock.Elapsed.TotalSeconds:F1} s"));
    }
}
