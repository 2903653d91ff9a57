using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Tests.Support;
using Npgsql;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>
/// A PostgreSQL database of 1,000,000 deliveries with the engine's own schema (its migrations create it) and the skew of a
/// real help desk, as <c>LargeDatabaseFixture</c> builds for SQLite: 90 days ending an hour ago, one event dominating (70%
/// <c>convo.status</c>), 100,000 conversations of a few deliveries each (their rows with sequence numbers, a tenth still
/// marked claimed by an instance long gone) and two huge ones of 25,000 each, status changes, intents (a few pending,
/// retried tomorrow, some claimed; a few dead) with their attempts and idempotency keys, timers (a tenth pending, due
/// tomorrow), bodies for the newest 8%. Written with set-based statements (<c>generate_series</c>), then
/// <c>VACUUM (ANALYZE)</c> as autovacuum would after such inserts. No pending or parked delivery and none a rule failed
/// on: the recorded run re-queues every parked one and every one a rule failed on, and waits for the backlog to drain.
/// Then copied (<c>CREATE DATABASE … TEMPLATE</c>): one copy for each pass of the plan test. On a cluster of its own whose
/// server logs in JSON lines (<c>log_destination=jsonlog</c>), where <c>auto_explain</c> writes the plans it ran.
/// </summary>
public sealed class LargePostgresDatabaseFixture : IAsyncLifetime
{
    /// <summary>As many as the SQLite plan test's database.</summary>
    public const int Deliveries = Sqlite.LargeDatabaseFixture.Deliveries;

    /// <summary>The conversations of a few deliveries each (ids from 1,000).</summary>
    public const int Conversations = Sqlite.LargeDatabaseFixture.Conversations;

    /// <summary>The tables that grow with the history (the same in both schemas): no hot statement may walk one of them.</summary>
    public static IReadOnlySet<string> LargeTables => Sqlite.LargeDatabaseFixture.LargeTables;

    private readonly ConcurrentDictionary<string, long> _widest = new(StringComparer.Ordinal);

    public PostgresCluster Cluster { get; } = new(
        durable: false, "-c logging_collector=on -c log_destination=jsonlog -c log_rotation_size=0 -c log_rotation_age=0 -c shared_buffers=256MB");

    /// <summary>The filled database (the test's own queries run here, without <c>auto_explain</c>).</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>Copies of the filled database, one per pass of the plan test, by name.</summary>
    public IReadOnlyDictionary<string, string> Copies { get; private set; } = new Dictionary<string, string>();

    /// <summary>How long building took (the fill, <c>VACUUM (ANALYZE)</c> and the copies).</summary>
    public double BuildSeconds { get; private set; }

    /// <summary>Where the history ends (Unix ms): an hour before the fixture was built.</summary>
    public long End { get; private set; }

    /// <summary>When the oldest delivery that has its body stored was received (Unix ms); the next ones are 7.776 s apart.</summary>
    public long FirstBodyAt => End - ((Deliveries - FirstWithBody) * Spacing);

    /// <summary>The deliveries' spacing: 90 days over 1,000,000 (ms).</summary>
    public const long Spacing = 7776;

    private const int FirstWithBody = (Deliveries * 92 / 100) + 1;

    public async Task InitializeAsync()
    {
        await Cluster.InitializeAsync();
        var clock = Stopwatch.StartNew();
        ConnectionString = new NpgsqlConnectionStringBuilder(await Cluster.CreateDatabaseAsync()) { Pooling = false }.ConnectionString;
        await using (var schema = new PostgresDatabase(ConnectionString))
        {
            await schema.InitializeAsync();
        }

        End = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        await ExecuteAsync(ConnectionString, "SET synchronous_commit = off; SET maintenance_work_mem = '256MB';" + Fill(End));
        await ExecuteAsync(ConnectionString, "VACUUM (ANALYZE)");

        var database = new NpgsqlConnectionStringBuilder(ConnectionString).Database!;
        var copies = new Dictionary<string, string>();
        foreach (var pass in new[] { "custom", "generic" })
        {
            var name = $"{database}_{pass}";
            await ExecuteAsync(Cluster.ConnectionString, $"CREATE DATABASE {name} TEMPLATE {database} STRATEGY FILE_COPY");
            copies[pass] = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
        }

        Copies = copies;
        BuildSeconds = clock.Elapsed.TotalSeconds;
    }

    // Deliveries 1..N over 90 days (7.776 s apart) ending at END. Every 20th belongs to a huge conversation; of the rest,
    // conversation 1,000 + i % 100,000 (sequence i / 100,000 + 1), except customer events (1%: no conversation).
    private static string Fill(long end) => string.Format(CultureInfo.InvariantCulture, """
        INSERT INTO instances (id, name, started_at, renewed_at, expires_at, left_at)
            VALUES (1, 'gone', {0} - 8000000000, {0} - 7000000000, {0} - 7000000000, NULL);
        INSERT INTO deliveries (id, event, body_sha256, conversation_id, seq, received_at, outcome, attempts, processed_at, result, rules_generation, rule_failures)
        SELECT i, event, sha256(int8send(i)),
               CASE WHEN event = 'customer.created' THEN NULL WHEN huge THEN 1 + (i / 20) % 2 ELSE 1000 + i % {2} END,
               CASE WHEN event = 'customer.created' THEN NULL WHEN huge THEN (i / 20) / 2 + 1 ELSE i / {2} + 1 END,
               {0} - ({1} - i) * 7776,
               CASE WHEN event = 'customer.created' THEN 'skipped' ELSE 'done' END,
               1, {0} - ({1} - i) * 7776 + 5, '{{"stale":false}}', 'g', 0
        FROM (SELECT i, CASE
                WHEN i % 100 < 70 THEN 'convo.status' WHEN i % 100 < 80 THEN 'convo.customer.reply.created'
                WHEN i % 100 < 88 THEN 'convo.agent.reply.created' WHEN i % 100 < 93 THEN 'convo.created'
                WHEN i % 100 < 96 THEN 'convo.note.created' WHEN i % 100 < 98 THEN 'timer.elapsed'
                WHEN i % 100 < 99 THEN 'reconciliation' ELSE 'customer.created' END AS event, i % 20 = 0 AS huge
              FROM generate_series(1::bigint, {1}) AS i) e;
        INSERT INTO delivery_bodies (delivery_id, body, encoding)
            SELECT id, convert_to(repeat('{{"id":1,"status":"closed"}}', 12), 'UTF8'), NULL FROM deliveries WHERE id >= {3};
        INSERT INTO conversations (id, last_seq, last_applied_seq, status, updated_at, claim_instance, claim_epoch)
            SELECT conversation_id, MAX(seq), MAX(seq), 'closed', MAX(received_at), CASE WHEN conversation_id % 10 = 0 THEN 1 END, conversation_id % 5
            FROM deliveries WHERE conversation_id IS NOT NULL GROUP BY conversation_id;
        INSERT INTO status_changes (delivery_id, conversation_id, number, from_status, to_status, via, at)
            SELECT id, conversation_id, conversation_id + 10000, 'active', 'closed', 'convo.status', received_at
            FROM deliveries WHERE event = 'convo.status' AND id % 2 = 0;
        INSERT INTO action_intents (id, delivery_id, conversation_id, rule, action, arguments, state, created_at, attempts, next_attempt_at, completed_at,
                                    idempotency_key, destination, claim_instance, claim_token, claimed_at)
            SELECT id, id, conversation_id, 'Rule' || (id % 7), CASE id % 3 WHEN 0 THEN 'http' WHEN 1 THEN 'note' ELSE 'slack' END, '{{}}',
                   CASE WHEN id > {1} - 2000 THEN 'pending' WHEN (id / 10) % 503 = 0 THEN 'dead' ELSE 'done' END,
                   received_at, 1, CASE WHEN id > {1} - 2000 THEN {0} + 86400000 + id END, CASE WHEN id <= {1} - 2000 THEN received_at + 100 END,
                   'fsr-plans-' || id, CASE id % 3 WHEN 0 THEN 'hooks.example.com' ELSE '' END,
                   CASE WHEN id > {1} - 2000 AND id % 4 = 1 THEN 1 END, CASE WHEN id > {1} - 2000 AND id % 4 = 1 THEN 'token-' || id END,
                   CASE WHEN id > {1} - 2000 AND id % 4 = 1 THEN received_at + 50 END
            FROM deliveries WHERE (id % 10 = 5 OR id % 200 = 0) AND conversation_id IS NOT NULL;
        INSERT INTO action_attempts (intent_id, attempt, started_at, duration_ms, outcome, error)
            SELECT id, 1, created_at + 50, 12.5, CASE state WHEN 'done' THEN 'done' ELSE 'retryable' END, NULL FROM action_intents;
        INSERT INTO timers (conversation_id, name, number, due_at, state, rule, delivery_id, set_at, fired_at)
            SELECT id, 'follow-up', id + 10000, CASE WHEN id % 10 = 0 THEN {0} + 86400000 + id * 1000 ELSE updated_at + 3600000 END,
                   CASE id % 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'cancelled' WHEN 2 THEN 'cancelled' ELSE 'fired' END,
                   'FollowUp', NULL, updated_at, CASE WHEN id % 10 > 2 THEN updated_at + 3600000 END
            FROM conversations;
        INSERT INTO rule_generations (content_hash, loaded_at, outcome, rules) SELECT 'hash' || g, {0} - 86400000 * (6 - g), 'active', 3 FROM generate_series(1, 5) AS g;
        INSERT INTO reconciliation (id, watermark, advanced_at) VALUES (1, {0}, {0});
        SELECT setval(pg_get_serial_sequence('deliveries', 'id'), {1});
        SELECT setval(pg_get_serial_sequence('instances', 'id'), 1);
        SELECT setval(pg_get_serial_sequence('status_changes', 'id'), (SELECT MAX(id) FROM status_changes));
        SELECT setval(pg_get_serial_sequence('action_intents', 'id'), (SELECT MAX(id) FROM action_intents));
        SELECT setval(pg_get_serial_sequence('action_attempts', 'id'), (SELECT MAX(id) FROM action_attempts));
        SELECT setval(pg_get_serial_sequence('rule_generations', 'id'), (SELECT MAX(id) FROM rule_generations));
        """, end, Deliveries, Conversations, FirstWithBody);

    /// <summary>
    /// The most rows of <paramref name="table"/> that share one value of <paramref name="columns"/> (among the rows
    /// <paramref name="where"/> holds for, a partial index's condition): how far an equality lookup on them can walk.
    /// </summary>
    public long Widest(string table, IReadOnlyList<string> columns, string? where)
    {
        var filter = where is null ? "" : "WHERE " + where;
        var sql = columns.Count == 0
            ? $"SELECT COUNT(*) FROM {table} {filter}"
            : $"SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM {table} {filter} GROUP BY {string.Join(", ", columns)}) g";
        return _widest.GetOrAdd(sql, query => Scalar<long>(ConnectionString, query));
    }

    /// <summary>A count or a value of the filled database.</summary>
    public T Scalar<T>(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        return (T)command.ExecuteScalar()!;
    }

    internal static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
