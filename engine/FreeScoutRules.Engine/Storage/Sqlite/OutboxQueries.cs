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

    /// <summary>The id of this installation (made with the database), or <c>null</c> before schema 13.</summary>
    public async Task<string?> InstallationIdAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT installation_id FROM installation WHERE id = 1";
        return await command.ExecuteScalarAsync(cancellationToken) as string;
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
