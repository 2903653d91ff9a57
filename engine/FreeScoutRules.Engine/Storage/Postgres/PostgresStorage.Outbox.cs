using System.Security.Cryptography;
using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>The outbox (<see cref="IOutbox"/>): intents claimed under an instance's lease with a token, their attempts recorded under their claim.</summary>
internal sealed partial class PostgresStorage
{
    /// <summary>
    /// The idempotency key of an intent: the one recorded with it (copied from an older store), else
    /// <c>fsr-&lt;installation&gt;-&lt;id&gt;</c>, as in the SQLite store: both parts never change, so every attempt sends the same.
    /// </summary>
    private const string IdempotencyKey =
        "COALESCE(i.idempotency_key, 'fsr-' || (SELECT installation_id FROM installation WHERE id = 1) || '-' || i.id::text)";

    // The oldest due intents: pending, their time come, held by no live instance (or orphaned by the claimer's own: claimed
    // under its instance with a token it does not hold, IntentSlots.Held), not going to a destination with no room
    // left, not behind an earlier pending intent of their conversation and destination (unless their action is unordered),
    // for a claimer whose own lease is alive. Locked as they are read; rows another claimer has locked are skipped, so two
    // claimers never take one intent, and the earlier intent stays pending while claimed, so its successor waits.
    private const string DueIntents = $"""
        SELECT i.id, i.delivery_id, i.conversation_id, i.rule, i.action, i.arguments, i.attempts, i.retry_base, i.secret_places,
               i.destination, {IdempotencyKey}
        FROM action_intents i
        WHERE i.state = '{IntentState.Pending}' AND (i.next_attempt_at IS NULL OR i.next_attempt_at <= @now)
          AND (i.claim_instance IS NULL
               OR (@reclaim AND i.claim_instance = @instance AND i.claim_token <> ALL (@held))
               OR NOT EXISTS (SELECT 1 FROM instances n WHERE n.id = i.claim_instance AND n.expires_at > @now AND n.left_at IS NULL))
          AND i.destination <> ALL (@saturated)
          AND (i.action = ANY (@unordered) OR NOT EXISTS (
                SELECT 1 FROM action_intents e
                WHERE e.conversation_id = i.conversation_id AND e.destination = i.destination AND e.state = '{IntentState.Pending}' AND e.id < i.id
                  AND e.action <> ALL (@unordered)))
          AND EXISTS (SELECT 1 FROM instances m WHERE m.id = @instance AND m.expires_at > @now AND m.left_at IS NULL)
        ORDER BY i.id
        LIMIT @scan
        FOR UPDATE OF i SKIP LOCKED
        """;

    private const string TakeIntents = """
        UPDATE action_intents i SET claim_instance = @instance, claim_token = t.token, claimed_at = @now
        FROM unnest(@ids, @tokens) AS t (id, token) WHERE i.id = t.id
        """;

    private const string IntentBodies = "SELECT d.id, d.event, b.body, b.encoding FROM deliveries d JOIN delivery_bodies b ON b.delivery_id = d.id WHERE d.id = ANY (@deliveries)";

    // The intent first: its condition is the fence; with no row, the transaction rolls back and nothing is written.
    private const string RecordIntent = $"""
        UPDATE action_intents SET attempts = @attempt, state = @state, last_error = CASE WHEN @state = '{IntentState.Done}' THEN NULL ELSE @error END,
            next_attempt_at = @next, completed_at = CASE WHEN @state = '{IntentState.Pending}' THEN NULL ELSE @now END,
            claim_instance = NULL, claim_token = NULL, claimed_at = NULL
        WHERE id = @intent AND claim_token = @token
        """;

    private const string InsertAttempt = """
        INSERT INTO action_attempts (intent_id, attempt, started_at, duration_ms, outcome, error)
        SELECT id, @attempt, @started, @duration, @outcome, @error FROM action_intents WHERE id = @intent
        """;

    private const string ReleaseIntent = "UPDATE action_intents SET claim_instance = NULL, claim_token = NULL, claimed_at = NULL WHERE id = @intent AND claim_token = @token";

    private const string Revive = $"""
        UPDATE action_intents SET state = '{IntentState.Pending}', retry_base = attempts, retried_at = @now, next_attempt_at = NULL, completed_at = NULL,
            claim_instance = NULL, claim_token = NULL, claimed_at = NULL
        WHERE id = @intent AND state = '{IntentState.Dead}'
        """;

    private static readonly ClaimedIntents NothingClaimed = new([], More: false);

    public Task<ClaimedIntents> ClaimDueAsync(InstanceLease holder, IntentSlots slots, IReadOnlySet<string> unordered, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(unordered);
        if (slots.Limit <= 0)
        {
            return Task.FromResult(NothingClaimed);
        }

        var now = _time.GetUtcNow();
        return WriteAsync(
            async (transaction, ct) =>
            {
                var candidates = new List<DueIntent>();
                await using (var due = transaction.Command(DueIntents))
                {
                    due.Parameters.Time("now", now).Bigint("instance", holder.Id).Integer("scan", slots.Scan)
                        .Texts("saturated", [.. slots.Saturated]).Texts("unordered", [.. unordered])
                        .Boolean("reclaim", slots.Held is not null).Texts("held", [.. slots.Held ?? []]);
                    await using var reader = await due.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        candidates.Add(new DueIntent(
                            reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.GetInt32(6),
                            RetryBase: reader.GetInt32(7), SecretPlaces: reader.TextOrNull(8))
                        {
                            Destination = reader.GetString(9),
                            IdempotencyKey = reader.GetString(10),
                            Claim = null!, // set when claimed
                        });
                    }
                }

                // What fits the slots is claimed; the other rows read are let go at the commit, untouched.
                var fit = slots.Fit(candidates, c => c.Destination, out var more);
                if (fit.Count == 0)
                {
                    return new ClaimedIntents([], more);
                }

                var claimed = fit.Select(i => i with { Claim = new IntentClaim(i.Id, holder.Id, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))) }).ToList();
                var sources = new Dictionary<long, DeliverySource>();
                await using (var take = transaction.Batch(TakeIntents, IntentBodies))
                {
                    take.BatchCommands[0].Parameters.Bigint("instance", holder.Id).Time("now", now)
                        .Bigints("ids", [.. claimed.Select(i => i.Id)]).Texts("tokens", [.. claimed.Select(i => i.Claim.Token)]);
                    take.BatchCommands[1].Parameters.Bigints("deliveries", [.. claimed.Select(i => i.DeliveryId).Distinct()]);
                    await using var reader = await take.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        // Kept as stored; decoded by the attempt that needs it. A delivery whose body was pruned has none.
                        var stored = (byte[])reader.GetValue(2);
                        var encoding = reader.TextOrNull(3);
                        sources[reader.GetInt64(0)] = new DeliverySource(reader.GetString(1), () => BodyEncoding.Decode(stored, encoding));
                    }
                }

                return new ClaimedIntents([.. claimed.Select(i => sources.TryGetValue(i.DeliveryId, out var source) ? i with { Delivery = source } : i)], more);
            },
            cancellationToken);
    }

    public Task<IReadOnlyList<IntentRecord>> ListAsync(long? deliveryId, string? state, int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<IntentRecord>>(
            async (connection, ct) =>
            {
                var where = new List<string>();
                await using var command = new NpgsqlCommand { Connection = connection };
                if (deliveryId is { } delivery)
                {
                    where.Add("i.delivery_id = @delivery");
                    command.Parameters.Bigint("delivery", delivery);
                }

                if (state is not null)
                {
                    where.Add("i.state = @state");
                    command.Parameters.Text("state", state);
                }

                command.CommandText = $"""
                    SELECT i.id, i.delivery_id, i.conversation_id, i.rule, i.action, i.arguments, i.state, i.attempts, i.created_at, i.next_attempt_at,
                           i.completed_at, i.last_error,
                           CASE WHEN i.state = '{IntentState.Pending}' THEN (SELECT MIN(e.id) FROM action_intents e
                                WHERE e.conversation_id = i.conversation_id AND e.destination = i.destination
                                  AND e.state = '{IntentState.Pending}' AND e.id < i.id) END,
                           i.secret_places, i.destination, {IdempotencyKey}
                    FROM action_intents i {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))} ORDER BY i.id DESC LIMIT @limit
                    """;
                command.Parameters.Integer("limit", limit);
                var intents = new List<IntentRecord>();
                await using (var reader = await command.ExecuteReaderAsync(ct))
                {
                    while (await reader.ReadAsync(ct))
                    {
                        intents.Add(new IntentRecord(
                            reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                            reader.GetString(6), reader.GetInt32(7), reader.Time(8), reader.TimeOrNull(9), reader.TimeOrNull(10), reader.TextOrNull(11), [])
                        {
                            WaitingFor = reader.BigintOrNull(12),
                            SecretPlaces = reader.TextOrNull(13),
                            Destination = reader.GetString(14),
                            IdempotencyKey = reader.GetString(15),
                        });
                    }
                }

                if (intents.Count == 0)
                {
                    return intents;
                }

                // Their attempts, in one read.
                var attempts = new Dictionary<long, List<AttemptRecord>>();
                await using (var read = new NpgsqlCommand(
                    "SELECT intent_id, attempt, started_at, duration_ms, outcome, error FROM action_attempts WHERE intent_id = ANY (@intents) ORDER BY intent_id, started_at, id",
                    connection))
                {
                    read.Parameters.Bigints("intents", [.. intents.Select(i => i.Id)]);
                    await using var reader = await read.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        var intentId = reader.GetInt64(0);
                        (attempts.TryGetValue(intentId, out var log) ? log : attempts[intentId] = []).Add(
                            new AttemptRecord(reader.GetInt32(1), reader.Time(2), reader.GetDouble(3), reader.GetString(4), reader.TextOrNull(5)));
                    }
                }

                return [.. intents.Select(i => attempts.TryGetValue(i.Id, out var log) ? i with { AttemptLog = log } : i)];
            },
            cancellationToken);

    public Task RecordAttemptAsync(AttemptCommit attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var record = transaction.Batch(RecordIntent, InsertAttempt);
                record.BatchCommands[0].Parameters.Bigint("intent", attempt.IntentId).Text("token", attempt.Claim.Token).Integer("attempt", attempt.Attempt)
                    .Text("state", attempt.NewState).Text("error", attempt.Error).Time("next", attempt.NextAttemptAt).Time("now", attempt.StartedAt + attempt.Duration);
                record.BatchCommands[1].Parameters.Bigint("intent", attempt.IntentId).Integer("attempt", attempt.Attempt).Time("started", attempt.StartedAt)
                    .Double("duration", attempt.Duration.TotalMilliseconds).Text("outcome", attempt.Outcome).Text("error", attempt.Error);
                await record.ExecuteNonQueryAsync(ct);
                if (record.BatchCommands[0].RecordsAffected == 0)
                {
                    throw new ClaimLostException(await IntentLostAsync(transaction, attempt.Claim, "its attempt's record", ct));
                }

                return true;
            },
            cancellationToken);
    }

    public Task<bool> ReleaseAsync(IntentClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var release = transaction.Command(ReleaseIntent);
                release.Parameters.Bigint("intent", claim.IntentId).Text("token", claim.Token);
                return await release.ExecuteNonQueryAsync(ct) == 1;
            },
            cancellationToken);
    }

    public Task<bool> RetryDeadAsync(long intentId, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync(
            async (transaction, ct) =>
            {
                await using var revive = transaction.Command(Revive);
                revive.Parameters.Bigint("intent", intentId).Time("now", now);
                return await revive.ExecuteNonQueryAsync(ct) == 1;
            },
            cancellationToken);

    public Task<OutboxStats> StatsAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    $"""
                    SELECT (SELECT COUNT(*) FROM action_intents WHERE state = '{IntentState.Pending}'),
                           (SELECT COUNT(*) FROM action_intents WHERE state = '{IntentState.Dead}'),
                           (SELECT MIN(COALESCE(retried_at, created_at)) FROM action_intents WHERE state = '{IntentState.Pending}')
                    """,
                    connection);
                await using var reader = await command.ExecuteReaderAsync(ct);
                await reader.ReadAsync(ct);
                return new OutboxStats(reader.GetInt64(0), reader.GetInt64(1), reader.TimeOrNull(2));
            },
            cancellationToken);

    /// <summary>Why a write under an intent's claim was refused: who holds the intent now, for the message.</summary>
    private static async Task<string> IntentLostAsync(Transaction transaction, IntentClaim claim, string what, CancellationToken cancellationToken)
    {
        await using var current = transaction.Command("SELECT state, claim_instance FROM action_intents WHERE id = @intent");
        current.Parameters.Bigint("intent", claim.IntentId);
        await using var reader = await current.ExecuteReaderAsync(cancellationToken);
        var now = !await reader.ReadAsync(cancellationToken) ? "it no longer exists"
            : reader.IsDBNull(1) ? $"nobody holds it now (it is {reader.GetString(0)})"
            : $"instance {reader.GetInt64(1)} holds it now (it is {reader.GetString(0)})";
        return $"The claim of instance {claim.InstanceId} on action intent {claim.IntentId} is lost: {now}. {char.ToUpperInvariant(what[0])}{what[1..]} was not written; the other holder's attempt stands.";
    }
}
