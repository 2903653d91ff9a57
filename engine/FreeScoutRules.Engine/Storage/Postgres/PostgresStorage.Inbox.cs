using FreeScoutRules.Facts;
using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>The inbox and the queue of work (<see cref="IInbox"/>): storing, claims of conversations, their fence, commits.</summary>
internal sealed partial class PostgresStorage
{
    /// <summary>The channel of <c>NOTIFY</c>: a conversation has new pending work (payload: origin, conversation, delivery).</summary>
    internal const string WorkChannel = "fsr_work";

    // A conversation delivery: found among the conversation's own (the same event and bytes), or stored with the next
    // sequence of its conversation. The upsert of the conversation row gives the number under the row's lock, so per
    // conversation sequence order is commit order; nothing is taken when the snapshot already holds the delivery. A copy
    // committed while this one waited for the lock is met by the unique index (ON CONFLICT DO NOTHING): then nothing is
    // returned and the caller rolls the sequence back. The notification goes with the commit (and not without it).
    private const string StoreInConversation = $"""
        WITH earlier AS (
            SELECT id FROM deliveries WHERE conversation_id = @conversation AND event = @event AND body_sha256 = @sha
        ),
        sequence AS (
            INSERT INTO conversations AS c (id, last_seq) SELECT @conversation, 1 WHERE NOT EXISTS (SELECT 1 FROM earlier)
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
        SELECT (SELECT id FROM stored), (SELECT seq FROM stored), (SELECT id FROM earlier), (SELECT count(*) FROM announced)
        """;

    // A delivery of no conversation (customer events): kept, never pending; its own unique index dedupes it.
    private const string StoreWithoutConversation = $"""
        WITH earlier AS (
            SELECT id FROM deliveries WHERE conversation_id IS NULL AND event = @event AND body_sha256 = @sha
        ),
        stored AS (
            INSERT INTO deliveries (event, body_sha256, conversation_id, seq, received_at, outcome)
            SELECT @event, @sha, NULL, NULL, @received, '{DeliveryOutcome.Skipped}' WHERE NOT EXISTS (SELECT 1 FROM earlier)
            ON CONFLICT (event, body_sha256) WHERE conversation_id IS NULL DO NOTHING
            RETURNING id, seq
        ),
        body AS (
            INSERT INTO delivery_bodies (delivery_id, body, encoding) SELECT id, @body, '{BodyEncoding.Deflate}' FROM stored
        )
        SELECT (SELECT id FROM stored), (SELECT seq FROM stored), (SELECT id FROM earlier), 0::bigint
        """;

    private const string FindInConversation = "SELECT id FROM deliveries WHERE conversation_id = @conversation AND event = @event AND body_sha256 = @sha";

    private const string FindWithoutConversation = "SELECT id FROM deliveries WHERE conversation_id IS NULL AND event = @event AND body_sha256 = @sha";

    // The next conversations with pending deliveries after a conversation id, each one seek in the backlog's partial index.
    private const string NextWithBacklog = $"""
        WITH RECURSIVE backlog (id) AS (
            (SELECT conversation_id FROM deliveries WHERE outcome = '{DeliveryOutcome.Pending}' AND conversation_id > @after ORDER BY conversation_id LIMIT 1)
            UNION ALL
            SELECT (SELECT d.conversation_id FROM deliveries d WHERE d.outcome = '{DeliveryOutcome.Pending}' AND d.conversation_id > b.id ORDER BY d.conversation_id LIMIT 1)
            FROM backlog b WHERE b.id IS NOT NULL
        )
        SELECT id FROM backlog WHERE id IS NOT NULL LIMIT @scan
        """;

    // Claims, in the order asked, the conversations with pending work that nobody holds, whose holder's lease ended (the
    // epoch advanced), or that the asker holds already (its epoch kept). Rows another transaction has locked are skipped
    // (a store or a commit in flight; the next claim or sweep finds them): nobody waits for a lock here.
    private const string Claim = $"""
        WITH wanted AS (
            SELECT w.id, w.n FROM unnest(@conversations) WITH ORDINALITY AS w (id, n)
        ),
        picked AS (
            SELECT c.id, w.n FROM conversations c JOIN wanted w ON w.id = c.id
            WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.conversation_id = c.id AND d.outcome = '{DeliveryOutcome.Pending}')
              AND (c.claim_instance IS NULL OR c.claim_instance = @instance
                   OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = c.claim_instance AND i.expires_at > @now AND i.left_at IS NULL))
            ORDER BY w.n
            LIMIT @limit
            FOR UPDATE OF c SKIP LOCKED
        )
        UPDATE conversations c
        SET claim_epoch = CASE WHEN c.claim_instance = @instance THEN c.claim_epoch ELSE c.claim_epoch + 1 END, claim_instance = @instance
        FROM picked WHERE c.id = picked.id
        RETURNING c.id, c.claim_epoch, picked.n
        """;

    // The fence, read under the conversation row's lock in the writing transaction: the statements after it see the claim
    // as it is until the commit.
    private const string Fence = "SELECT claim_instance, claim_epoch FROM conversations WHERE id = @conversation FOR UPDATE";

    private const string ReleaseClaim = $"""
        UPDATE conversations SET claim_instance = NULL
        WHERE id = @conversation AND claim_instance = @instance AND claim_epoch = @epoch
          AND NOT EXISTS (SELECT 1 FROM deliveries WHERE conversation_id = @conversation AND outcome = '{DeliveryOutcome.Pending}')
        """;

    private const string MarkDone = $"""
        UPDATE deliveries SET outcome = '{DeliveryOutcome.Done}', attempts = attempts + 1, last_error = NULL, processed_at = @at, result = @result,
            rules_generation = @generation, rule_failures = @failures
        WHERE id = @delivery AND outcome = '{DeliveryOutcome.Pending}'
        """;

    // The known state, and (for a lane's last delivery) the claim's release when nothing else is pending.
    private const string AdvanceState = $"""
        UPDATE conversations SET last_applied_seq = GREATEST(last_applied_seq, @seq),
            status = COALESCE(@status, status), updated_at = COALESCE(@updated, updated_at),
            claim_instance = CASE WHEN @release AND NOT EXISTS (
                SELECT 1 FROM deliveries WHERE conversation_id = @conversation AND outcome = '{DeliveryOutcome.Pending}') THEN NULL ELSE claim_instance END
        WHERE id = @conversation
        RETURNING claim_instance IS NULL
        """;

    private const string InsertStatusChange = """
        INSERT INTO status_changes (delivery_id, conversation_id, number, from_status, to_status, via, at)
        VALUES (@delivery, @conversation, @number, @from, @to, @via, @at)
        """;

    private const string InsertIntent = $"""
        INSERT INTO action_intents (delivery_id, conversation_id, rule, action, arguments, secret_places, destination, state, created_at)
        VALUES (@delivery, @conversation, @rule, @action, @arguments, @places, @destination, '{IntentState.Pending}', @at)
        """;

    private const string ScheduleTimer = $"""
        INSERT INTO timers AS t (conversation_id, name, number, due_at, state, rule, delivery_id, set_at)
        VALUES (@conversation, @name, 1, @due, '{TimerState.Pending}', @rule, @delivery, @at)
        ON CONFLICT (conversation_id, name) DO UPDATE SET number = t.number + 1, due_at = excluded.due_at,
            state = '{TimerState.Pending}', rule = excluded.rule, delivery_id = excluded.delivery_id, set_at = excluded.set_at, fired_at = NULL
        """;

    private const string CancelTimer = $"""
        UPDATE timers SET state = '{TimerState.Cancelled}', rule = @rule, delivery_id = @delivery, set_at = @at
        WHERE conversation_id = @conversation AND name = @name AND state = '{TimerState.Pending}'
        """;

    private const string MarkFailed = $"""
        UPDATE deliveries SET attempts = attempts + 1, last_error = @error, outcome = @outcome, result = COALESCE(@result, result)
        WHERE id = @delivery AND outcome = '{DeliveryOutcome.Pending}'
        """;

    private const string PassParked = "UPDATE conversations SET last_applied_seq = GREATEST(last_applied_seq, @seq) WHERE id = @conversation";

    private const string Requeue = $"""
        WITH requeued AS (
            UPDATE deliveries SET outcome = '{DeliveryOutcome.Pending}', attempts = 0
            WHERE id = @delivery AND outcome IN ('{DeliveryOutcome.Parked}', '{DeliveryOutcome.Done}') AND conversation_id IS NOT NULL
            RETURNING conversation_id
        ),
        announced AS (
            SELECT pg_notify('{WorkChannel}', @origin || ' ' || conversation_id::text || ' ' || @delivery::text) FROM requeued
        )
        SELECT conversation_id, (SELECT count(*) FROM announced) FROM requeued
        """;

    /// <summary>A conversation delivery with its body: what dispatch, re-runs and history read.</summary>
    private const string StoredSelect = """
        SELECT d.id, d.event, b.body, d.conversation_id, d.seq, d.received_at, d.attempts, d.outcome, d.result, b.encoding
        FROM deliveries d LEFT JOIN delivery_bodies b ON b.delivery_id = d.id WHERE d.conversation_id IS NOT NULL
        """;

    public async Task<StoreResult> StoreAsync(NewDelivery delivery, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var body = BodyEncoding.Compress(delivery.Body.Span); // read before the first await: the caller may reuse its buffer then
        var stored = await WriteAsync((transaction, ct) => StoreAsync(transaction, delivery, body, ct), cancellationToken);
        if (!stored.Duplicate && delivery.ConversationId is { } conversationId)
        {
            if (delivery.Parsed is { } parsed)
            {
                _recent.Remember(stored.DeliveryId, parsed); // for this process's lane: the body need not be parsed again
            }

            _hints?.Stored(new WorkHint(conversationId, stored.DeliveryId, delivery.Parsed));
        }

        return stored;
    }

    /// <summary>Stores a delivery (its body compressed already) in <paramref name="transaction"/>, or finds its earlier copy.</summary>
    private async Task<StoreResult> StoreAsync(Transaction transaction, NewDelivery delivery, byte[] body, CancellationToken cancellationToken)
    {
        var conversationId = delivery.ConversationId;
        long? id, sequence, earlier;
        await using (var store = transaction.Command(conversationId is null ? StoreWithoutConversation : StoreInConversation))
        {
            store.Parameters.Integer("conversation", conversationId).Text("event", delivery.Event).Bytea("sha", delivery.BodySha256)
                .Time("received", delivery.ReceivedAt).Bytea("body", body).Text("origin", _origin);
            await using var reader = await store.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            (id, sequence, earlier) = (reader.BigintOrNull(0), reader.BigintOrNull(1), reader.BigintOrNull(2));
        }

        if (id is { } stored)
        {
            return new StoreResult(stored, Duplicate: false, sequence);
        }

        if (earlier is null)
        {
            // A copy committed while this one waited: the unique index turned the insert away. Its sequence number goes back
            // with the rollback; the copy is found now, as this statement sees what was committed before it.
            transaction.RollBack = true;
            await using var find = transaction.Command(conversationId is null ? FindWithoutConversation : FindInConversation);
            find.Parameters.Integer("conversation", conversationId).Text("event", delivery.Event).Bytea("sha", delivery.BodySha256);
            earlier = await find.ExecuteScalarAsync(cancellationToken) as long?
                ?? throw new InvalidOperationException($"Delivery {delivery.Event} of conversation {conversationId} was turned away as a copy, and no copy was found.");
        }

        return new StoreResult(earlier.Value, Duplicate: true, null);
    }

    public async Task<IReadOnlyList<ConversationClaim>> ClaimAsync(
        InstanceLease holder, IReadOnlyCollection<int>? conversations, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holder);
        if (limit <= 0)
        {
            return [];
        }

        var candidates = conversations?.Distinct().ToArray() ?? await SweepAsync(limit, cancellationToken);
        if (candidates.Length == 0)
        {
            return [];
        }

        var now = _time.GetUtcNow();
        return await WriteAsync<IReadOnlyList<ConversationClaim>>(
            async (transaction, ct) =>
            {
                await using var claim = transaction.Command(Claim);
                claim.Parameters.Integers("conversations", candidates).Bigint("instance", holder.Id).Time("now", now).Integer("limit", limit);
                var claims = new List<(long Order, ConversationClaim Claim)>();
                await using var reader = await claim.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    claims.Add((reader.GetInt64(2), new ConversationClaim(reader.GetInt32(0), holder.Id, reader.GetInt64(1))));
                }

                return [.. claims.OrderBy(c => c.Order).Select(c => c.Claim)];
            },
            cancellationToken);
    }

    /// <summary>
    /// The next conversations with a backlog, from where the last sweep stopped, round and round (as SQLite's sweep): more
    /// than the limit, since some are held by live instances.
    /// </summary>
    private async Task<int[]> SweepAsync(int limit, CancellationToken cancellationToken)
    {
        var scan = Math.Max(limit * 4, 64);
        var start = _sweep.After;
        var ids = await NextWithBacklogAsync(start, scan, cancellationToken);
        if (ids.Count < scan && start != int.MinValue)
        {
            ids.AddRange((await NextWithBacklogAsync(int.MinValue, scan - ids.Count, cancellationToken)).Where(id => id <= start));
        }

        _sweep.After = ids.Count == scan ? ids[^1] : int.MinValue;
        return [.. ids];
    }

    private Task<List<int>> NextWithBacklogAsync(int after, int scan, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var next = new NpgsqlCommand(NextWithBacklog, connection);
                next.Parameters.Integer("after", after).Integer("scan", scan);
                var ids = new List<int>();
                await using var reader = await next.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    ids.Add(reader.GetInt32(0));
                }

                return ids;
            },
            cancellationToken);

    /// <summary>The claimed conversation's pending deliveries, each with the conversation its producer parsed when that was this process.</summary>
    public async Task<IReadOnlyList<StoredDelivery>> LoadPendingAsync(ConversationClaim claim, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        var pending = await LoadStoredAsync(
            $"{StoredSelect} AND d.conversation_id = @conversation AND d.outcome = '{DeliveryOutcome.Pending}' ORDER BY d.seq LIMIT @limit",
            p => p.Integer("conversation", claim.ConversationId).Integer("limit", limit),
            cancellationToken);
        return [.. pending.Select(d => _recent.Take(d.Id) is { } parsed ? d with { Parsed = parsed } : d)];
    }

    public Task<bool> ReleaseAsync(ConversationClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var batch = transaction.Batch(Fence, ReleaseClaim);
                batch.BatchCommands[0].Parameters.Integer("conversation", claim.ConversationId);
                batch.BatchCommands[1].Parameters.Integer("conversation", claim.ConversationId).Bigint("instance", claim.InstanceId).Bigint("epoch", claim.Epoch);
                await using (var reader = await batch.ExecuteReaderAsync(ct))
                {
                    await CheckFenceAsync(reader, claim, ct);
                    while (await reader.NextResultAsync(ct))
                    {
                    }
                }

                return batch.BatchCommands[1].RecordsAffected == 1;
            },
            cancellationToken);
    }

    public Task<StoredDelivery?> GetStoredAsync(long deliveryId, CancellationToken cancellationToken) =>
        FirstStoredAsync($"{StoredSelect} AND d.id = @delivery", p => p.Bigint("delivery", deliveryId), cancellationToken);

    public Task<StoredDelivery?> LoadSnapshotAsync(int conversationId, long beforeSequence, CancellationToken cancellationToken) =>
        FirstStoredAsync(
            $"""
            {StoredSelect} AND d.conversation_id = @conversation AND d.seq < @seq AND d.outcome = '{DeliveryOutcome.Done}'
              AND d.event <> '{TimerFiring.Event}' AND (d.result::jsonb ->> 'stale') = 'false'
            ORDER BY d.seq DESC LIMIT 1
            """,
            p => p.Integer("conversation", conversationId).Bigint("seq", beforeSequence),
            cancellationToken);

    public Task<KnownConversation> LoadConversationAsync(int conversationId, DateTimeOffset intentsSince, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var batch = new NpgsqlBatch(connection)
                {
                    BatchCommands =
                    {
                        new NpgsqlBatchCommand("SELECT status, updated_at FROM conversations WHERE id = @conversation AND status IS NOT NULL"),
                        new NpgsqlBatchCommand("""
                            SELECT i.rule, d.received_at FROM action_intents i JOIN deliveries d ON d.id = i.delivery_id
                            WHERE i.conversation_id = @conversation AND d.received_at >= @since ORDER BY i.id
                            """),
                    },
                };
                batch.BatchCommands[0].Parameters.Integer("conversation", conversationId);
                batch.BatchCommands[1].Parameters.Integer("conversation", conversationId).Time("since", intentsSince);
                await using var reader = await batch.ExecuteReaderAsync(ct);
                PriorState? known = await reader.ReadAsync(ct) ? new PriorState(conversationId, reader.GetString(0), reader.Time(1)) : null;
                await reader.NextResultAsync(ct);
                var recent = new List<RecentIntent>();
                while (await reader.ReadAsync(ct))
                {
                    recent.Add(new RecentIntent(reader.GetString(0), reader.Time(1)));
                }

                return new KnownConversation(conversationId, known, recent);
            },
            cancellationToken);

    public Task<bool> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        var result = commit.Result.ToJson();
        var destinations = Enumerable.Range(0, commit.Intents.Count).Select(commit.DestinationOf).ToList(); // checked before anything is sent
        return WriteAsync(
            async (transaction, ct) =>
            {
                // One round trip: the fence (under the row's lock) and the done mark first, then everything the evaluation
                // produced. A refusal rolls all of it back: nothing is written.
                var timers = commit.Timers ?? [];
                await using var batch = transaction.Batch(
                [
                    Fence, MarkDone, AdvanceState,
                    .. commit.StatusChanges.Select(_ => InsertStatusChange),
                    .. commit.Intents.Select(_ => InsertIntent),
                    .. timers.Select(t => t.DueAt is null ? CancelTimer : ScheduleTimer),
                ]);
                var statements = batch.BatchCommands;
                statements[0].Parameters.Integer("conversation", commit.ConversationId);
                statements[1].Parameters.Bigint("delivery", commit.DeliveryId).Time("at", commit.ProcessedAt).Text("result", result)
                    .Text("generation", commit.RulesGeneration).Integer("failures", commit.Result.RuleFailures?.Count ?? 0);
                statements[2].Parameters.Integer("conversation", commit.ConversationId).Bigint("seq", commit.Sequence).Text("status", commit.NextState?.Status)
                    .Time("updated", commit.NextState?.UpdatedAt).Boolean("release", commit.Release);
                var next = 3;
                foreach (var change in commit.StatusChanges)
                {
                    statements[next++].Parameters.Bigint("delivery", commit.DeliveryId).Integer("conversation", change.ConversationId).Integer("number", change.Number)
                        .Text("from", change.From).Text("to", change.To).Text("via", change.Via).Time("at", change.At);
                }

                for (var i = 0; i < commit.Intents.Count; i++)
                {
                    var intent = commit.Intents[i];
                    statements[next++].Parameters.Bigint("delivery", commit.DeliveryId).Integer("conversation", intent.ConversationId).Text("rule", intent.Rule)
                        .Text("action", intent.Action).Text("arguments", intent.Arguments).Text("places", intent.SecretPlaces).Text("destination", destinations[i])
                        .Time("at", commit.ProcessedAt);
                }

                foreach (var timer in timers)
                {
                    var parameters = statements[next++].Parameters.Integer("conversation", timer.ConversationId).Text("name", timer.Name).Text("rule", timer.Rule)
                        .Bigint("delivery", commit.DeliveryId).Time("at", commit.ProcessedAt);
                    if (timer.DueAt is { } due)
                    {
                        parameters.Time("due", due);
                    }
                }

                var released = false;
                await using (var reader = await batch.ExecuteReaderAsync(ct))
                {
                    await CheckFenceAsync(reader, commit.Claim, ct);
                    // The next result set is the state's (Npgsql's results are those of statements that return rows: the done
                    // mark has none; its count is read below).
                    if (await reader.NextResultAsync(ct) && await reader.ReadAsync(ct))
                    {
                        released = commit.Release && reader.GetBoolean(0);
                    }

                    while (await reader.NextResultAsync(ct))
                    {
                    }
                }

                if (statements[1].RecordsAffected != 1)
                {
                    throw new DeliveryNotPendingException(commit.DeliveryId);
                }

                return released;
            },
            cancellationToken);
    }

    public Task RecordFailureAsync(DeliveryFailure failure, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var result = failure.Result?.ToJson();
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var batch = failure.Park ? transaction.Batch(Fence, MarkFailed, PassParked) : transaction.Batch(Fence, MarkFailed);
                batch.BatchCommands[0].Parameters.Integer("conversation", failure.ConversationId);
                batch.BatchCommands[1].Parameters.Bigint("delivery", failure.DeliveryId).Text("error", failure.Error)
                    .Text("outcome", failure.Park ? DeliveryOutcome.Parked : DeliveryOutcome.Pending).Text("result", result);
                if (failure.Park)
                {
                    // A parked delivery no longer holds its conversation's sequence.
                    batch.BatchCommands[2].Parameters.Integer("conversation", failure.ConversationId).Bigint("seq", failure.Sequence);
                }

                await using var reader = await batch.ExecuteReaderAsync(ct);
                await CheckFenceAsync(reader, failure.Claim, ct);
                while (await reader.NextResultAsync(ct))
                {
                }

                return true;
            },
            cancellationToken);
    }

    public async Task<bool> RequeueAsync(long deliveryId, CancellationToken cancellationToken)
    {
        var conversationId = await WriteAsync(
            async (transaction, ct) =>
            {
                await using var requeue = transaction.Command(Requeue);
                requeue.Parameters.Bigint("delivery", deliveryId).Text("origin", _origin);
                await using var reader = await requeue.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? reader.GetInt32(0) : (int?)null;
            },
            cancellationToken);
        if (conversationId is { } conversation)
        {
            _hints?.Stored(new WorkHint(conversation, deliveryId));
            return true;
        }

        return false;
    }

    /// <summary>
    /// Reads the fence (the first result of a batch that starts with <see cref="Fence"/>) and refuses, with
    /// <see cref="ClaimLostException"/>, unless <paramref name="claim"/> is the conversation's claim now; the transaction is
    /// then rolled back, so nothing of the batch is written.
    /// </summary>
    private static async Task CheckFenceAsync(NpgsqlDataReader reader, ConversationClaim claim, CancellationToken cancellationToken)
    {
        long? holder = null;
        long epoch = 0;
        if (await reader.ReadAsync(cancellationToken))
        {
            (holder, epoch) = (reader.BigintOrNull(0), reader.GetInt64(1));
        }

        if (holder != claim.InstanceId || epoch != claim.Epoch)
        {
            var now = holder is null ? $"nobody holds it (epoch {epoch})" : $"instance {holder} holds it at epoch {epoch}";
            throw new ClaimLostException(
                $"The claim of instance {claim.InstanceId} on conversation {claim.ConversationId} (epoch {claim.Epoch}) is lost: {now}. Nothing was written; the holder's writes stand.");
        }
    }

    private async Task<StoredDelivery?> FirstStoredAsync(string sql, Action<NpgsqlParameterCollection> bind, CancellationToken cancellationToken) =>
        await LoadStoredAsync(sql, bind, cancellationToken) is [var first, ..] ? first : null;

    private Task<IReadOnlyList<StoredDelivery>> LoadStoredAsync(string sql, Action<NpgsqlParameterCollection>? bind, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<StoredDelivery>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(sql, connection);
                bind?.Invoke(command.Parameters);
                var stored = new List<StoredDelivery>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    stored.Add(new StoredDelivery(
                        reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : BodyEncoding.Decode((byte[])reader.GetValue(2), reader.TextOrNull(9)),
                        reader.GetInt32(3), reader.GetInt64(4), reader.Time(5), reader.GetInt32(6), reader.GetString(7),
                        DeliveryResult.FromJson(reader.TextOrNull(8))));
                }

                return stored;
            },
            cancellationToken);
}
