using System.Collections.Concurrent;
using System.Diagnostics;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// A database of 1,000,000 deliveries with the engine's own schema (its migrations create it) and the skew of a real
/// help desk, built once for the plan tests: one event dominating (70% <c>convo.status</c>), 100,000 conversations of a
/// few deliveries each and two huge ones of 25,000 each (an e-mail loop, a ticket that never ends), status changes, intents
/// (a few pending and dead), attempts, timers (a tenth pending), bodies for the newest 8%. Generated inside SQLite
/// (recursive queries), not through the writer: the plans are what is tested, so no fsync and no journal. Removed at dispose.
/// </summary>
public sealed class LargeDatabaseFixture : IDisposable
{
    public const int Deliveries = 1_000_000;

    /// <summary>The conversations of a few deliveries each (ids from 1,000).</summary>
    public const int Conversations = 100_000;

    /// <summary>The tables that grow with the history: no statement may walk one of them.</summary>
    public static readonly IReadOnlySet<string> LargeTables = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "deliveries", "delivery_bodies", "action_intents", "action_attempts", "status_changes", "timers", "conversations",
    };

    private readonly TempDirectory _directory = new();
    private readonly ConcurrentDictionary<string, long> _widest = new(StringComparer.Ordinal);

    public LargeDatabaseFixture()
    {
        var clock = Stopwatch.StartNew();
        Path = System.IO.Path.Combine(_directory.Path, "plans.db");
        using (var connection = Open())
        {
            Execute(connection, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;");
            Migrations.ApplyAsync(connection, CancellationToken.None).GetAwaiter().GetResult();
            using var transaction = connection.BeginTransaction();
            Execute(connection, Fill, transaction);
            transaction.Commit();
        }

        BuildSeconds = clock.Elapsed.TotalSeconds;
    }

    public string Path { get; }

    /// <summary>How long building took (the test's budget: 30 s on the 2-core machine).</summary>
    public double BuildSeconds { get; }

    // Deliveries 1..N over 90 days (7.776 s apart) ending 2026-12-01. Every 20th belongs to a huge conversation; of the
    // rest, conversation 1,000 + i % 100,000 (sequence i / 100,000 + 1), except customer events (1%: no conversation).
    // Outcomes: the newest 50 pending, every 10,007th parked, customer events skipped, the rest done.
    private static readonly string Fill = $$"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {{Deliveries}}),
        e(i, event, huge) AS (
            SELECT i, CASE
                WHEN i % 100 < 70 THEN 'convo.status' WHEN i % 100 < 80 THEN 'convo.customer.reply.created'
                WHEN i % 100 < 88 THEN 'convo.agent.reply.created' WHEN i % 100 < 93 THEN 'convo.created'
                WHEN i % 100 < 96 THEN 'convo.note.created' WHEN i % 100 < 98 THEN 'timer.elapsed'
                WHEN i % 100 < 99 THEN 'reconciliation' ELSE 'customer.created' END, i % 20 = 0
            FROM n)
        INSERT INTO deliveries (id, event, body_sha256, conversation_id, seq, received_at, outcome, attempts, processed_at, result, rules_generation, rule_failures)
        SELECT i, event, randomblob(32),
               CASE WHEN event = 'customer.created' THEN NULL WHEN huge THEN 1 + (i / 20) % 2 ELSE 1000 + i % {{Conversations}} END,
               CASE WHEN event = 'customer.created' THEN NULL WHEN huge THEN (i / 20) / 2 + 1 ELSE i / {{Conversations}} + 1 END,
               1796860800000 - ({{Deliveries}} - i) * 7776,
               CASE WHEN event = 'customer.created' THEN 'skipped' WHEN i > {{Deliveries}} - 50 THEN 'pending' WHEN i % 10007 = 0 THEN 'parked' ELSE 'done' END,
               1, 1796860800000 - ({{Deliveries}} - i) * 7776 + 5, '{"stale":false}', 'g', i % 997 = 0
        FROM e;
        INSERT INTO delivery_bodies (delivery_id, body, encoding)
            SELECT id, zeroblob(300), 'deflate' FROM deliveries WHERE id > {{Deliveries * 92 / 100}};
        INSERT INTO conversations (id, last_applied_seq, status, updated_at)
            SELECT conversation_id, MAX(seq), 'closed', MAX(received_at) FROM deliveries WHERE conversation_id IS NOT NULL GROUP BY conversation_id;
        INSERT INTO status_changes (delivery_id, conversation_id, number, from_status, to_status, via, at)
            SELECT id, conversation_id, conversation_id + 10000, 'active', 'closed', 'convo.status', received_at
            FROM deliveries WHERE event = 'convo.status' AND id % 2 = 0;
        INSERT INTO action_intents (id, delivery_id, conversation_id, rule, action, arguments, state, created_at, attempts, next_attempt_at, completed_at)
            SELECT id, id, conversation_id, 'Rule' || (id % 7), CASE id % 3 WHEN 0 THEN 'http' WHEN 1 THEN 'note' ELSE 'slack' END, '{}',
                   CASE WHEN id > {{Deliveries}} - 2000 THEN 'pending' WHEN (id / 10) % 503 = 0 THEN 'dead' ELSE 'done' END,
                   received_at, 1, CASE WHEN id > {{Deliveries}} - 2000 AND id % 2 = 0 THEN received_at + 60000 END, received_at + 100
            FROM deliveries WHERE (id % 10 = 5 OR id % 200 = 0) AND conversation_id IS NOT NULL;
        INSERT INTO action_attempts (intent_id, attempt, started_at, duration_ms, outcome, error)
            SELECT id, 1, created_at + 50, 12.5, CASE state WHEN 'done' THEN 'done' ELSE 'retryable' END, NULL FROM action_intents;
        INSERT INTO timers (conversation_id, name, number, due_at, state, rule, delivery_id, set_at, fired_at)
            SELECT id, 'follow-up', 1, updated_at + 3600000, CASE id % 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'cancelled' WHEN 2 THEN 'cancelled' ELSE 'fired' END,
                   'FollowUp', NULL, updated_at, CASE WHEN id % 10 > 2 THEN updated_at + 3600000 END
            FROM conversations;
        INSERT INTO rule_generations (content_hash, loaded_at, outcome, rules) SELECT 'hash' || value, value, 'active', 3 FROM json_each('[1,2,3,4,5]');
        INSERT INTO reconciliation (id, watermark, advanced_at) VALUES (1, 1796860800000, 1796860800000);
        """;

    /// <summary>A connection of its own (not pooled: one that ran <c>ANALYZE</c> never serves another test).</summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>The rows of <c>EXPLAIN QUERY PLAN</c> for <paramref name="sql"/> on <paramref name="connection"/>, its parameters unbound.</summary>
    internal static IReadOnlyList<PlanRow> Explain(SqliteConnection connection, string sql)
    {
        // SQLite's own API: Microsoft.Data.Sqlite refuses a statement with parameters it was not given values for.
        if (raw.sqlite3_prepare_v2(connection.Handle, "EXPLAIN QUERY PLAN " + sql, out var statement) != raw.SQLITE_OK)
        {
            throw new InvalidOperationException($"EXPLAIN QUERY PLAN failed ({raw.sqlite3_errmsg(connection.Handle).utf8_to_string()}) for: {sql}");
        }

        using (statement)
        {
            var rows = new List<PlanRow>();
            while (raw.sqlite3_step(statement) == raw.SQLITE_ROW)
            {
                rows.Add(new PlanRow(raw.sqlite3_column_int(statement, 0), raw.sqlite3_column_int(statement, 1), raw.sqlite3_column_text(statement, 3).utf8_to_string()));
            }

            return rows;
        }
    }

    /// <summary>
    /// The most rows of <paramref name="table"/> that share one value of <paramref name="columns"/> (among the rows
    /// <paramref name="where"/> holds for, a partial index's condition): how far an equality lookup on them can walk.
    /// </summary>
    public long Widest(string table, IReadOnlyList<string> columns, string? where)
    {
        var filter = where is null ? "" : "WHERE " + where;
        var sql = columns.Count == 0
            ? $"SELECT COUNT(*) FROM {table} {filter}"
            : $"SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM {table} {filter} GROUP BY {string.Join(", ", columns)})";
        return _widest.GetOrAdd(sql, query =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = query;
            return (long)command.ExecuteScalar()!;
        });
    }

    internal static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandTimeout = 0;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose() => _directory.Dispose();
}

/// <summary>A row of <c>EXPLAIN QUERY PLAN</c>: its id, its parent's id, what it does.</summary>
internal sealed record PlanRow(int Id, int Parent, string Detail);
