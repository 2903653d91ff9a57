using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>Timers (<see cref="ITimers"/>): listed, counted, and fired once whoever fires.</summary>
internal sealed partial class PostgresStorage
{
    // The conversation row's lock first, as a commit takes it before it schedules or cancels the conversation's timers:
    // the two never wait for each other in opposite orders.
    private const string LockConversation = "SELECT 1 FROM conversations WHERE id = @conversation FOR UPDATE";

    // Marks the scheduling fired, conditioned on its being pending, and stores its firing as the conversation's next
    // delivery: all of it only when the timer was pending (two firing at once: the second finds it fired, and writes nothing).
    private const string FireTimer = $"""
        WITH fired AS (
            UPDATE timers SET state = '{TimerState.Fired}', fired_at = @received
            WHERE conversation_id = @conversation AND name = @name AND number = @number AND state = '{TimerState.Pending}'
            RETURNING conversation_id
        ),
        earlier AS (
            SELECT id FROM deliveries WHERE conversation_id = @conversation AND event = @event AND body_sha256 = @sha
        ),
        sequence AS (
            INSERT INTO conversations AS c (id, last_seq) SELECT conversation_id, 1 FROM fired WHERE NOT EXISTS (SELECT 1 FROM earlier)
            ON CONFLICT (id) DO UPDATE SET last_seq = c.last_seq + 1
            RETURNING last_seq
        ),
        stored AS (
            INSERT INTO deliveries (event, body_sha256, conversation_id, seq, received_at, outcome)
            SELECT @event, @sha, @conversation, last_seq, @received, '{DeliveryOutcome.Pending}' FROM sequence
            ON CONFLICT (conversation_id, event, body_sha256) WHERE conversation_id IS NOT NULL DO NOTHING
            RETURNING id, seq
        ),
        body AS (
            INSERT INTO delivery_bodies (delivery_id, body, encoding) SELECT id, @body, '{BodyEncoding.Deflate}' FROM stored
        ),
        announced AS (
            SELECT pg_notify('{WorkChannel}', @origin || ' ' || @conversation::text || ' ' || id::text) FROM stored
        )
        SELECT (SELECT count(*) FROM fired), (SELECT id FROM stored), (SELECT seq FROM stored), (SELECT id FROM earlier), (SELECT count(*) FROM announced)
        """;

    public Task<IReadOnlyList<StoredTimer>> ListAsync(TimerFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return ReadAsync<IReadOnlyList<StoredTimer>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand { Connection = connection };
                // Pending as a literal: the planner then proves the partial index of pending timers by due time usable.
                var where = new List<string>
                {
                    filter.State switch
                    {
                        null => "TRUE",
                        TimerState.Pending => $"state = '{TimerState.Pending}'",
                        _ => "state = @state",
                    },
                };
                if (filter.State is not (null or TimerState.Pending))
                {
                    command.Parameters.Text("state", filter.State);
                }

                if (filter.ConversationId is { } conversation)
                {
                    where.Add("conversation_id = @conversation");
                    command.Parameters.Integer("conversation", conversation);
                }

                if (filter.DueBefore is { } before)
                {
                    where.Add("due_at < @before");
                    command.Parameters.Time("before", before);
                }

                command.CommandText = $"""
                    SELECT conversation_id, name, number, due_at, state, rule, delivery_id, set_at, fired_at FROM timers
                    WHERE {string.Join(" AND ", where)}
                    ORDER BY due_at, conversation_id, name COLLATE "C" LIMIT @limit
                    """;
                command.Parameters.Integer("limit", filter.Limit);
                var timers = new List<StoredTimer>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    timers.Add(new StoredTimer(
                        reader.GetInt32(0), reader.GetString(1), reader.GetInt32(2), reader.Time(3), reader.GetString(4), reader.GetString(5),
                        reader.BigintOrNull(6), reader.Time(7), reader.TimeOrNull(8)));
                }

                return timers;
            },
            cancellationToken);
    }

    public async Task<StoreResult?> FireAsync(TimerFiring firing, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(firing);
        var body = BodyEncoding.Compress(firing.ToJson());
        var sha = firing.DedupeKey();
        var stored = await WriteAsync(
            async (transaction, ct) =>
            {
                await using var fire = transaction.Batch(LockConversation, FireTimer);
                fire.BatchCommands[0].Parameters.Integer("conversation", firing.ConversationId);
                fire.BatchCommands[1].Parameters.Integer("conversation", firing.ConversationId).Text("name", firing.Name).Integer("number", firing.Number)
                    .Text("event", TimerFiring.Event).Bytea("sha", sha).Time("received", firing.FiredAt).Bytea("body", body).Text("origin", _origin);
                await using var reader = await fire.ExecuteReaderAsync(ct);
                await reader.NextResultAsync(ct); // past the lock's row
                await reader.ReadAsync(ct);
                var (fired, id, sequence, earlier) = (reader.GetInt64(0), reader.BigintOrNull(1), reader.BigintOrNull(2), reader.BigintOrNull(3));
                return fired == 0 ? null
                    : id is { } delivery ? new StoreResult(delivery, Duplicate: false, sequence)
                    : earlier is { } copy ? new StoreResult(copy, Duplicate: true, null)
                    : throw new InvalidOperationException(
                        $"The firing of timer '{firing.Name}' #{firing.Number} of conversation {firing.ConversationId} was turned away as a copy, and no copy was found.");
            },
            cancellationToken);
        if (stored is { Duplicate: false })
        {
            _hints?.Stored(new WorkHint(firing.ConversationId, stored.DeliveryId));
        }

        return stored;
    }

    public Task<long> CountPendingAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand($"SELECT COUNT(*) FROM timers WHERE state = '{TimerState.Pending}'", connection);
                return (long)(await command.ExecuteScalarAsync(ct))!;
            },
            cancellationToken);
}
