using FreeScoutRules.Engine.Storage;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>Reads of the outbox, each on its own pooled connection. Thread-safe.</summary>
internal sealed class OutboxQueries(SqliteDatabase database)
{
    /// <summary>
    /// The idempotency key of an intent: the one recorded with it (intents from before schema 13 keep
    /// <c>fsr-intent-&lt;id&gt;</c>, with which they may already have been sent), else <c>fsr-&lt;installation&gt;-&lt;id&gt;</c>.
    /// Derived rather than stored at creation: both parts never change (ids are never reused, see retention), so the
    /// key is the same for every attempt and across restarts, and the commit of an evaluation writes nothing more.
    /// </summary>
    internal const string IdempotencyKeySql =
        "COALESCE(i.idempotency_key, 'fsr-' || (SELECT installation_id FROM installation WHERE id = 1) || '-' || i.id)";

    /// <summary>
    /// Pending intents whose time has come, oldest first, except <paramref name="running"/>, those going to a
    /// <paramref name="saturated"/> destination, and those behind an earlier pending intent of their conversation and
    /// destination (unless their action is <paramref name="unordered"/>; such intents hold no other back either).
    /// </summary>
    public async Task<List<DueIntent>> DueAsync(
        DateTimeOffset now, int limit, IReadOnlySet<long> running, IReadOnlySet<string> unordered, IReadOnlySet<string> saturated,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var exempt = Parameters(command, "$unordered", unordered);
        var full = Parameters(command, "$saturated", saturated);
        command.CommandText = $"""
            SELECT i.id, i.delivery_id, i.conversation_id, i.rule, i.action, i.arguments, i.attempts, i.retry_base, i.secret_places,
                   i.destination, {IdempotencyKeySql}
            FROM action_intents i
            WHERE i.state = '{IntentState.Pending}' AND (i.next_attempt_at IS NULL OR i.next_attempt_at <= $now)
              {(full.Length == 0 ? "" : $"AND i.destination NOT IN ({full})")}
              AND ({(exempt.Length == 0 ? "" : $"i.action IN ({exempt}) OR ")}NOT EXISTS (
                SELECT 1 FROM action_intents e
                WHERE e.conversation_id = i.conversation_id AND e.destination = i.destination AND e.state = '{IntentState.Pending}' AND e.id < i.id
                  {(exempt.Length == 0 ? "" : $"AND e.action NOT IN ({exempt})")}))
            ORDER BY i.id LIMIT $limit
            """;
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$limit", limit + running.Count);
        var due = new List<DueIntent>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken) && due.Count < limit)
            {
                var id = reader.GetInt64(0);
                if (!running.Contains(id))
                {
                    due.Add(new DueIntent(
                        id, reader.GetInt64(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.GetInt32(6),
                        RetryBase: reader.GetInt32(7), SecretPlaces: reader.IsDBNull(8) ? null : reader.GetString(8))
                    {
                        Destination = reader.GetString(9),
                        IdempotencyKey = reader.GetString(10),
                    });
                }
            }
        }

        if (due.Count == 0)
        {
            return due;
        }

        // The snapshots: each delivery's body read and decoded once, for the intents about to run only.
        var sources = await SourcesAsync(connection, due.Select(i => i.DeliveryId).Distinct().ToList(), cancellationToken);
        return due.ConvertAll(i => sources.TryGetValue(i.DeliveryId, out var source) ? i with { Delivery = source } : i);
    }

    /// <summary>Adds one parameter per value (<paramref name="prefix"/>0, 1, …); their names, comma-separated.</summary>
    private static string Parameters(SqliteCommand command, string prefix, IReadOnlySet<string> values)
    {
        var names = new List<string>(values.Count);
        foreach (var value in values)
        {
            names.Add(prefix + names.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            command.Parameters.AddWithValue(names[^1], value);
        }

        return string.Join(", ", names);
    }

    /// <summary>The id of this installation (made with the database), or <c>null</c> before schema 13.</summary>
    public async Task<string?> InstallationIdAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT installation_id FROM installation WHERE id = 1";
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    private static async Task<Dictionary<long, DeliverySource>> SourcesAsync(SqliteConnection connection, List<long> deliveryIds, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var names = new List<string>(deliveryIds.Count);
        foreach (var id in deliveryIds)
        {
            names.Add($"$d{names.Count}");
            command.Parameters.AddWithValue(names[^1], id);
        }

        command.CommandText = $"""
            SELECT d.id, d.event, b.body, b.encoding FROM deliveries d JOIN delivery_bodies b ON b.delivery_id = d.id
            WHERE d.id IN ({string.Join(", ", names)})
            """;
        var sources = new Dictionary<long, DeliverySource>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            sources[reader.GetInt64(0)] = new DeliverySource(
                reader.GetString(1), BodyEncoding.Decode((byte[])reader.GetValue(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        }

        return sources;
    }

    /// <summary>Intents pending and dead, and the oldest pending one's time (index ranges of the state index).</summary>
    public async Task<OutboxStats> StatsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT (SELECT COUNT(*) FROM action_intents WHERE state = '{IntentState.Pending}'),
                   (SELECT COUNT(*) FROM action_intents WHERE state = '{IntentState.Dead}'),
                   (SELECT MIN(COALESCE(retried_at, created_at)) FROM action_intents WHERE state = '{IntentState.Pending}')
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new OutboxStats(reader.GetInt64(0), reader.GetInt64(1), Time(reader, 2));
    }

    /// <summary>Intents of one delivery, or in one state, with their attempts; newest first.</summary>
    public async Task<List<IntentRecord>> ListAsync(long? deliveryId, string? state, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var where = new List<string>();
        if (deliveryId is not null)
        {
            where.Add("i.delivery_id = $delivery");
            command.Parameters.AddWithValue("$delivery", deliveryId);
        }

        if (state is not null)
        {
            where.Add("i.state = $state");
            command.Parameters.AddWithValue("$state", state);
        }

        command.CommandText = $"""
            SELECT i.id, i.delivery_id, i.conversation_id, i.rule, i.action, i.arguments, i.state, i.attempts, i.created_at, i.next_attempt_at,
                   i.completed_at, i.last_error,
                   CASE WHEN i.state = '{IntentState.Pending}' THEN (SELECT MIN(e.id) FROM action_intents e
                        WHERE e.conversation_id = i.conversation_id AND e.destination = i.destination
                          AND e.state = '{IntentState.Pending}' AND e.id < i.id) END,
                   i.secret_places, i.destination, {IdempotencyKeySql}
            FROM action_intents i {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))} ORDER BY i.id DESC LIMIT $limit
            """;
        command.Parameters.AddWithValue("$limit", limit);
        var intents = new List<IntentRecord>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                intents.Add(new IntentRecord(
                    reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                    reader.GetString(6), reader.GetInt32(7), Time(reader, 8)!.Value, Time(reader, 9), Time(reader, 10),
                    reader.IsDBNull(11) ? null : reader.GetString(11), [])
                {
                    WaitingFor = reader.IsDBNull(12) ? null : reader.GetInt64(12),
                    SecretPlaces = reader.IsDBNull(13) ? null : reader.GetString(13),
                    Destination = reader.GetString(14),
                    IdempotencyKey = reader.GetString(15),
                });
            }
        }

        for (var i = 0; i < intents.Count; i++)
        {
            intents[i] = intents[i] with { AttemptLog = await AttemptsAsync(connection, intents[i].Id, cancellationToken) };
        }

        return intents;
    }

    private static async Task<List<AttemptRecord>> AttemptsAsync(SqliteConnection connection, long intentId, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT attempt, started_at, duration_ms, outcome, error FROM action_attempts WHERE intent_id = $id ORDER BY started_at, id";
        command.Parameters.AddWithValue("$id", intentId);
        var attempts = new List<AttemptRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            attempts.Add(new AttemptRecord(reader.GetInt32(0), Time(reader, 1)!.Value, reader.GetDouble(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        return attempts;
    }

    private static DateTimeOffset? Time(SqliteDataReader reader, int column) =>
        reader.IsDBNull(column) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(column));
}
