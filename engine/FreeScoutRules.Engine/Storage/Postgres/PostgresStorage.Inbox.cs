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
    // committed while this one waited for the lock is met by the unique index (ON CONFLICT DO NOTHING): the statement then
    // refuses (CopyStored), which rolls back the sequence number it took, and the caller finds the copy. One statement,
    // committed on its own (SubmitAsync); the notification goes with the commit (and not without it).
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
        SELECT (SELECT id FROM stored), (SELECT seq FROM stored), (SELECT id FROM earlier), (SELECT count(*) FROM announced),
            CASE WHEN NOT EXISTS (SELECT 1 FROM stored) AND NOT EXISTS (SELECT 1 FROM earlier) THEN fsr_refuse('{Refusals.CopyStored}', 'a copy was stored meanwhile') END
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
        SELECT (SELECT id FROM stored), (SELECT seq FROM stored), (SELECT id FROM earlier), 0::bigint,
            CASE WHEN NOT EXISTS (SELECT 1 FROM stored) AND NOT EXISTS (SELECT 1 FROM earlier) THEN fsr_refuse('{Refusals.CopyStored}', 'a copy was stored meanwhile') END
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
    // (a store or a commit in flight; the next claim or sweep finds them): nobody waits for a lock here. With each claim
    // new to the asker, the first pending deliveries of its conversation (PrefetchedWork): its lane's first read. A row
    // per delivery (its columns first, as StoredSelect's), the claim's columns after them; one row without a delivery for
    // a claim the asker held already. The deliveries are read in the statement's snapshot, which may predate the row's
    // lock (a holder that committed in between): the row's last_applied_seq, read under the lock, tells (below).
    private const string Claim = $"""
        WITH wanted AS (
            SELECT w.id, w.n FROM unnest(@conversations) WITH ORDINALITY AS w (id, n)
        ),
        picked AS (
            SELECT c.id, w.n, c.claim_instance AS holder FROM conversations c JOIN wanted w ON w.id = c.id
            WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.conversation_id = c.id AND d.outcome = '{DeliveryOutcome.Pending}')
              AND (c.claim_instance IS NULL OR c.claim_instance = @instance
                   OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = c.claim_instance AND i.expires_at > @now AND i.left_at IS NULL))
            ORDER BY w.n
            LIMIT @limit
            FOR UPDATE OF c SKIP LOCKED
        ),
        claimed AS (
            UPDATE conversations c
            SET claim_epoch = CASE WHEN c.claim_instance = @instance THEN c.claim_epoch ELSE c.claim_epoch + 1 END, claim_instance = @instance
            FROM picked WHERE c.id = picked.id
            RETURNING c.id, c.claim_epoch, picked.n, picked.holder IS DISTINCT FROM @instance AS new, c.last_applied_seq
        )
        SELECT d.id, d.event, b.body, d.conversation_id, d.seq, d.received_at, d.attempts, d.outcome, d.result, b.encoding,
            k.id, k.claim_epoch, k.n, k.new, k.last_applied_seq
        FROM claimed k
        LEFT JOIN LATERAL (
            SELECT p.id, p.event, p.conversation_id, p.seq, p.received_at, p.attempts, p.outcome, p.result FROM deliveries p
            WHERE k.new AND p.conversation_id = k.id AND p.outcome = '{DeliveryOutcome.Pending}' ORDER BY p.seq LIMIT @per
        ) d ON true
        LEFT JOIN delivery_bodies b ON b.delivery_id = d.id
        ORDER BY k.n, d.seq
        """;

    // The fence, first in a batch: the conversation's claim, read under its row's lock (so the statements after it see the
    // claim as it is until the commit), refuses the whole batch unless it is the writer's (ClaimLost: the holder and epoch
    // now). The aggregate gives one row even when the conversation has none.
    private const string Fence = $"""
        SELECT CASE WHEN bool_or(f.claim_instance = @instance AND f.claim_epoch = @epoch) THEN 0
            ELSE fsr_refuse('{Refusals.ClaimLost}', COALESCE(max(f.claim_instance)::text, '') || ' ' || COALESCE(max(f.claim_epoch), 0)::text) END
        FROM (SELECT claim_instance, claim_epoch FROM conversations WHERE id = @conversation FOR UPDATE) f
        """;

    private const string ReleaseClaim = $"""
        UPDATE conversations SET claim_instance = NULL
        WHERE id = @conversation AND claim_instance = @instance AND claim_epoch = @epoch
          AND NOT EXISTS (SELECT 1 FROM deliveries WHERE conversation_id = @conversation AND outcome = '{DeliveryOutcome.Pending}')
        """;

    // The done mark refuses the whole commit (NotPending) when the delivery is no longer pending.
    private const string MarkDone = $"""
        WITH done AS (
            UPDATE deliveries SET outcome = '{DeliveryOutcome.Done}', attempts = attempts + 1, last_error = NULL, processed_at = @at, result = @result,
                rules_generation = @generation, rule_failures = @failures
            WHERE id = @delivery AND outcome = '{DeliveryOutcome.Pending}'
            RETURNING id
        )
        SELECT CASE WHEN count(*) = 1 THEN 0 ELSE fsr_refuse('{Refusals.NotPending}', @delivery::text) END FROM done
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
        var stored = await SubmitAsync((connection, ct) => StoreAsync(connection, delivery, body, ct), cancellationToken);
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

    /// <summary>Stores a delivery (its body compressed already) in one statement, or finds its earlier copy.</summary>
    private async Task<StoreResult> StoreAsync(NpgsqlConnection connection, NewDelivery delivery, byte[] body, CancellationToken cancellationToken)
    {
        var conversationId = delivery.ConversationId;
        long? id, sequence, earlier;
        try
        {
            await using var store = new NpgsqlCommand(conversationId is null ? StoreWithoutConversation : StoreInConversation, connection);
            store.Parameters.Integer("conversation", conversationId).Text("event", delivery.Event).Bytea("sha", delivery.BodySha256)
                .Time("received", delivery.ReceivedAt).Bytea("body", body).Text("origin", _origin);
            await using var reader = await store.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            (id, sequence, earlier) = (reader.BigintOrNull(0), reader.BigintOrNull(1), reader.BigintOrNull(2));
        }
        catch (PostgresException ex) when (ex.SqlState == Refusals.CopyStored)
        {
            // A copy committed while this one waited: the unique index turned the insert away, and the statement refused,
            // taking its sequence number back with it. The copy is found now, as a new statement sees what was committed.
            await using var find = new NpgsqlCommand(conversationId is null ? FindWithoutConversation : FindInConversation, connection);
            find.Parameters.Integer("conversation", conversationId).Text("event", delivery.Event).Bytea("sha", delivery.BodySha256);
            earlier = await find.ExecuteScalarAsync(cancellationToken) as long?
                ?? throw new InvalidOperationException($"Delivery {delivery.Event} of conversation {conversationId} was turned away as a copy, and no copy was found.");
            return new StoreResult(earlier.Value, Duplicate: true, null);
        }

        return id is { } stored ? new StoreResult(stored, Duplicate: false, sequence)
            : new StoreResult(earlier ?? throw new InvalidOperationException($"Delivery {delivery.Event} of conversation {conversationId} was neither stored nor found."), Duplicate: true, null);
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
        return await SubmitAsync<IReadOnlyList<ConversationClaim>>(
            async (connection, ct) =>
            {
                await using var claim = new NpgsqlCommand(Claim, connection);
                claim.Parameters.Integers("conversations", candidates).Bigint("instance", holder.Id).Time("now", now).Integer("limit", limit)
                    .Integer("per", PrefetchedWork.PerClaim);
                var claims = new List<(ConversationClaim Claim, bool New, long Applied, List<StoredDelivery> Pending)>();
                await using (var reader = await claim.ExecuteReaderAsync(ct))
                {
                    while (await reader.ReadAsync(ct))
                    {
                        var conversation = reader.GetInt32(10);
                        if (claims.Count == 0 || claims[^1].Claim.ConversationId != conversation)
                        {
                            claims.Add((new ConversationClaim(conversation, holder.Id, reader.GetInt64(11)), reader.GetBoolean(13), reader.GetInt64(14), []));
                        }

                        if (!reader.IsDBNull(0))
                        {
                            claims[^1].Pending.Add(ReadStored(reader));
                        }
                    }
                }

                // Kept once the statement has completed (committed). Not when a delivery read is at or below the sequence the
                // conversation's row says was applied: another holder finished it (or parked it) after the statement's
                // snapshot, or it was put back in line for a re-run; the lane then reads its work itself.
                foreach (var (claimed, _, applied, pending) in claims.Where(c => c.New))
                {
                    if (pending.TrueForAll(d => d.Sequence > applied))
                    {
                        _prefetched.Keep(claimed, pending);
                    }
                }

                return [.. claims.Select(c => c.Claim)];
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
        var pending = _prefetched.Take(claim, limit) ?? await LoadStoredAsync(
            $"{StoredSelect} AND d.conversation_id = @conversation AND d.outcome = '{DeliveryOutcome.Pending}' ORDER BY d.seq LIMIT @limit",
            p => p.Integer("conversation", claim.ConversationId).Integer("limit", limit),
            cancellationToken);
        return [.. pending.Select(d => _recent.Take(d.Id) is { } parsed ? d with { Parsed = parsed } : d)];
    }

    public Task<bool> ReleaseAsync(ConversationClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        _prefetched.Forget(claim.ConversationId);
        return SubmitAsync(
            async (connection, ct) =>
            {
                await using var batch = NewBatch(connection, null, Fence, ReleaseClaim);
                batch.BatchCommands[0].Parameters.Claim(claim);
                batch.BatchCommands[1].Parameters.Claim(claim);
                await ExecuteFencedAsync(batch, claim, ct);
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
        _prefetched.Forget(commit.ConversationId);
        var result = commit.Result.ToJson();
        var destinations = Enumerable.Range(0, commit.Intents.Count).Select(commit.DestinationOf).ToList(); // checked before anything is sent
        return SubmitAsync(
            async (connection, ct) =>
            {
                // One round trip, one implicit transaction: the fence (under the row's lock) and the done mark first, then
                // everything the evaluation produced. A refusal of either rolls all of it back: nothing is written.
                var timers = commit.Timers ?? [];
                await using var batch = NewBatch(connection, null,
                [
                    Fence, MarkDone, AdvanceState,
                    .. commit.StatusChanges.Select(_ => InsertStatusChange),
                    .. commit.Intents.Select(_ => InsertIntent),
                    .. timers.Select(t => t.DueAt is null ? CancelTimer : ScheduleTimer),
                ]);
                var statements = batch.BatchCommands;
                statements[0].Parameters.Claim(commit.Claim);
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

                // The third result is the state's: whether the claim was released with the commit.
                var results = await ExecuteFencedAsync(batch, commit.Claim, ct, commit.DeliveryId);
                return commit.Release && results[2] is true;
            },
            cancellationToken);
    }

    public Task RecordFailureAsync(DeliveryFailure failure, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(failure);
        _prefetched.Forget(failure.ConversationId);
        var result = failure.Result?.ToJson();
        return SubmitAsync(
            async (connection, ct) =>
            {
                await using var batch = failure.Park ? NewBatch(connection, null, Fence, MarkFailed, PassParked) : NewBatch(connection, null, Fence, MarkFailed);
                batch.BatchCommands[0].Parameters.Claim(failure.Claim);
                batch.BatchCommands[1].Parameters.Bigint("delivery", failure.DeliveryId).Text("error", failure.Error)
                    .Text("outcome", failure.Park ? DeliveryOutcome.Parked : DeliveryOutcome.Pending).Text("result", result);
                if (failure.Park)
                {
                    // A parked delivery no longer holds its conversation's sequence.
                    batch.BatchCommands[2].Parameters.Integer("conversation", failure.ConversationId).Bigint("seq", failure.Sequence);
                }

                await ExecuteFencedAsync(batch, failure.Claim, ct);
                return true;
            },
            cancellationToken);
    }

    public async Task<bool> RequeueAsync(long deliveryId, CancellationToken cancellationToken)
    {
        var conversationId = await SubmitAsync(
            async (connection, ct) =>
            {
                await using var requeue = new NpgsqlCommand(Requeue, connection);
                requeue.Parameters.Bigint("delivery", deliveryId).Text("origin", _origin);
                await using var reader = await requeue.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? reader.GetInt32(0) : (int?)null;
            },
            cancellationToken);
        if (conversationId is { } conversation)
        {
            _prefetched.Forget(conversation);
            _hints?.Stored(new WorkHint(conversation, deliveryId));
            return true;
        }

        return false;
    }

    /// <summary>
    /// Executes a batch that starts with <see cref="Fence"/> (and, given <paramref name="delivery"/>, goes on with
    /// <see cref="MarkDone"/>), and returns the first value of each result: Npgsql's results are those of the statements
    /// that return rows, in order (the fence's, the done mark's, the state's; not the inserts'). A
    /// refusal of the database's (the fence's, the done mark's) rolled the whole batch back: it is thrown as
    /// <see cref="ClaimLostException"/> or <see cref="DeliveryNotPendingException"/>.
    /// </summary>
    private static async Task<List<object?>> ExecuteFencedAsync(NpgsqlBatch batch, ConversationClaim claim, CancellationToken cancellationToken, long? delivery = null)
    {
        var values = new List<object?>();
        try
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            do
            {
                values.Add(await reader.ReadAsync(cancellationToken) ? reader.GetValue(0) : null);
            }
            while (await reader.NextResultAsync(cancellationToken));
        }
        catch (PostgresException ex) when (ex.SqlState == Refusals.ClaimLost)
        {
            var now = ex.MessageText.Split(' ') is [var holder, var epoch] && holder.Length > 0
                ? $"instance {holder} holds it at epoch {epoch}"
                : $"nobody holds it (epoch {ex.MessageText.Split(' ')[^1]})";
            throw new ClaimLostException(
                $"The claim of instance {claim.InstanceId} on conversation {claim.ConversationId} (epoch {claim.Epoch}) is lost: {now}. Nothing was written; the holder's writes stand.");
        }
        catch (PostgresException ex) when (ex.SqlState == Refusals.NotPending && delivery is { } id)
        {
            throw new DeliveryNotPendingException(id);
        }

        return values;
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
                    stored.Add(ReadStored(reader));
                }

                return stored;
            },
            cancellationToken);

    /// <summary>A conversation delivery from the columns of <see cref="StoredSelect"/>, first in the row.</summary>
    private static StoredDelivery ReadStored(NpgsqlDataReader reader) =>
        new(
            reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : BodyEncoding.Decode((byte[])reader.GetValue(2), reader.TextOrNull(9)),
            reader.GetInt32(3), reader.GetInt64(4), reader.Time(5), reader.GetInt32(6), reader.GetString(7),
            DeliveryResult.FromJson(reader.TextOrNull(8)));
}
