namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Stores a new delivery, or finds the identical earlier one (same event, same body bytes). A new
/// conversation delivery gets the next sequence number of its conversation.
/// </summary>
internal sealed class StoreDeliveryOperation(NewDelivery delivery, WorkHints? hints = null, RecentConversations? recent = null, PendingPrefetch? prefetch = null)
    : WriteOperation<StoreResult>
{
    // Compressed here, on the caller's thread, not on the single writer's; the raw bytes are not kept
    // (the caller may reuse their buffer once this is queued).
    private readonly byte[] _body = BodyEncoding.Compress(delivery.Body.Span);
    private readonly NewDelivery _delivery = delivery with { Body = ReadOnlyMemory<byte>.Empty };

    // Same event and body bytes: the same conversation, so a conversation's redelivery is found among
    // its own index entries (ix_deliveries_conversation covers the hash); others have a unique index.
    // '+event': the event is checked on the rows found, never looked up through ix_deliveries_event (the console's),
    // which the planner would otherwise pick as often as not, and which holds every delivery of the event: a scan of
    // the history on each delivery (issue 20). The plan test (StatementPlanTests) keeps it so.
    private const string FindInConversation =
        "SELECT id FROM deliveries WHERE conversation_id = $conversation AND body_sha256 = $sha AND +event = $event LIMIT 1";

    // SqliteMutation.DedupeIgnoresEvent: the same bytes under any event are found.
    private static readonly string FindInConversationIgnoringEvent = FindInConversation.Replace(" AND +event = $event", "", StringComparison.Ordinal);

    private const string FindWithoutConversation =
        "SELECT id FROM deliveries WHERE conversation_id IS NULL AND event = $event AND body_sha256 = $sha";

    private const string Insert = """
        INSERT INTO deliveries (event, body_sha256, conversation_id, seq, received_at, outcome)
        VALUES ($event, $sha, $conversation, $seq, $received, $outcome) RETURNING id
        """;

    private const string InsertBody = $"INSERT INTO delivery_bodies (delivery_id, body, encoding) VALUES ($id, $body, '{BodyEncoding.Deflate}')";

    protected override StoreResult Run(WriterSession session)
    {
        if (_delivery.ConversationId is { } conversationId)
        {
            prefetch?.Invalidate(conversationId);
        }

        return Store(session, _delivery, _body);
    }

    /// <summary>Stores <paramref name="delivery"/> with its already compressed body, or finds its earlier copy; for operations that store a delivery among other writes.</summary>
    internal static StoreResult Store(WriterSession session, NewDelivery delivery, byte[] compressedBody)
    {
        var conversationId = delivery.ConversationId;
        var find = session.Prepared(
            conversationId is null ? FindWithoutConversation
            : session.Mutations.HasFlag(SqliteMutation.DedupeIgnoresEvent) ? FindInConversationIgnoringEvent
            : FindInConversation);
        WriterSession.Set(find, "$event", delivery.Event);
        WriterSession.Set(find, "$sha", delivery.BodySha256);
        if (conversationId is not null)
        {
            WriterSession.Set(find, "$conversation", conversationId.Value);
        }

        if (find.ExecuteScalar() is long earlier)
        {
            return new StoreResult(earlier, Duplicate: true, null);
        }

        long? sequence = conversationId is null ? null : session.LastSequence(conversationId.Value) + (session.Mutations.HasFlag(SqliteMutation.SequenceGap) ? 2 : 1);
        var insert = session.Prepared(Insert);
        WriterSession.Set(insert, "$event", delivery.Event);
        WriterSession.Set(insert, "$sha", delivery.BodySha256);
        WriterSession.Set(insert, "$conversation", conversationId);
        WriterSession.Set(insert, "$seq", sequence);
        WriterSession.Set(insert, "$received", delivery.ReceivedAt.ToUnixTimeMilliseconds());
        WriterSession.Set(insert, "$outcome", conversationId is null ? DeliveryOutcome.Skipped : DeliveryOutcome.Pending);
        var id = (long)insert.ExecuteScalar()!;

        var body = session.Prepared(InsertBody);
        WriterSession.Set(body, "$id", id);
        WriterSession.Set(body, "$body", compressedBody);
        body.ExecuteNonQuery();
        return new StoreResult(id, Duplicate: false, sequence);
    }

    protected override void OnCommitted(StoreResult result)
    {
        if (!result.Duplicate && delivery.ConversationId is { } conversationId)
        {
            if (delivery.Parsed is { } parsed)
            {
                recent?.Remember(result.DeliveryId, parsed);
            }

            hints?.Stored(new WorkHint(conversationId, result.DeliveryId, delivery.Parsed));
        }
    }
}

/// <summary>
/// Commits what one evaluation produced, all or nothing: the conversation's new known state and
/// applied sequence, the status changes, the action intents (the outbox) and the done mark.
/// Refuses (and so writes nothing) when the delivery is not pending any more: processed exactly once.
/// </summary>
internal sealed class ApplyEvaluationOperation(EvaluationCommit commit, PendingPrefetch? prefetch = null) : WriteOperation<bool>
{
    private const string MarkDone = $"""
            UPDATE deliveries SET outcome = '{DeliveryOutcome.Done}', attempts = attempts + 1, last_error = NULL, processed_at = $at, result = $result,
                rules_generation = $generation, rule_failures = $failures
            WHERE id = $id AND outcome = '{DeliveryOutcome.Pending}'
            """;

    private const string InsertIntent = $"""
                INSERT INTO action_intents (delivery_id, conversation_id, rule, action, arguments, secret_places, destination, state, created_at)
                VALUES ($delivery, $conversation, $rule, $action, $arguments, $places, $destination, '{IntentState.Pending}', $at)
                """;

    private const string ScheduleTimer = $"""
                INSERT INTO timers (conversation_id, name, number, due_at, state, rule, delivery_id, set_at)
                VALUES ($conversation, $name, 1, $due, '{TimerState.Pending}', $rule, $delivery, $at)
                ON CONFLICT (conversation_id, name) DO UPDATE SET number = number + 1, due_at = excluded.due_at,
                    state = '{TimerState.Pending}', rule = excluded.rule, delivery_id = excluded.delivery_id, set_at = excluded.set_at, fired_at = NULL
                """;

    private const string CancelTimer = $"""
                UPDATE timers SET state = '{TimerState.Cancelled}', rule = $rule, delivery_id = $delivery, set_at = $at
                WHERE conversation_id = $conversation AND name = $name AND state = '{TimerState.Pending}'
                """;

    private readonly string _resultJson = commit.Result.ToJson();

    protected override bool Run(WriterSession session)
    {
        // The fence first, then the done mark: a refusal comes before anything is written.
        ClaimFence.Check(session, commit.Claim);
        prefetch?.Invalidate(commit.ConversationId);
        var done = session.Prepared(MarkDone);
        WriterSession.Set(done, "$id", commit.DeliveryId);
        WriterSession.Set(done, "$generation", commit.RulesGeneration);
        WriterSession.Set(done, "$at", commit.ProcessedAt.ToUnixTimeMilliseconds());
        WriterSession.Set(done, "$result", _resultJson);
        WriterSession.Set(done, "$failures", commit.Result.RuleFailures?.Count ?? 0);
        if (done.ExecuteNonQuery() != 1)
        {
            throw new WriteRefusedException(new DeliveryNotPendingException(commit.DeliveryId));
        }

        // The state, and (for a lane's last delivery) the claim's release when nothing else is pending: no write of its own.
        var state = session.Prepared($"""
            INSERT INTO conversations (id, last_applied_seq, status, updated_at) VALUES ($id, $seq, $status, $updated)
            ON CONFLICT (id) DO UPDATE SET last_applied_seq = MAX(last_applied_seq, excluded.last_applied_seq),
                status = COALESCE(excluded.status, status), updated_at = COALESCE(excluded.updated_at, updated_at),
                claim_instance = CASE WHEN $release AND NOT EXISTS (
                    SELECT 1 FROM deliveries WHERE conversation_id = $id AND outcome = '{DeliveryOutcome.Pending}') THEN NULL ELSE claim_instance END
            RETURNING claim_instance IS NULL
            """);
        WriterSession.Set(state, "$id", commit.ConversationId);
        WriterSession.Set(state, "$seq", commit.Sequence);
        WriterSession.Set(state, "$status", commit.NextState?.Status);
        WriterSession.Set(state, "$updated", commit.NextState?.UpdatedAt.ToUnixTimeMilliseconds());
        WriterSession.Set(state, "$release", commit.Release);
        var released = false;
        using (var reader = state.ExecuteReader())
        {
            while (reader.Read())
            {
                released = commit.Release && reader.GetBoolean(0);
            }
        }


        foreach (var change in commit.StatusChanges)
        {
            var insert = session.Prepared("""
                INSERT INTO status_changes (delivery_id, conversation_id, number, from_status, to_status, via, at)
                VALUES ($delivery, $conversation, $number, $from, $to, $via, $at)
                """);
            WriterSession.Set(insert, "$delivery", commit.DeliveryId);
            WriterSession.Set(insert, "$conversation", change.ConversationId);
            WriterSession.Set(insert, "$number", change.Number);
            WriterSession.Set(insert, "$from", change.From);
            WriterSession.Set(insert, "$to", change.To);
            WriterSession.Set(insert, "$via", change.Via);
            WriterSession.Set(insert, "$at", change.At.ToUnixTimeMilliseconds());
            insert.ExecuteNonQuery();
        }

        for (var i = 0; i < commit.Intents.Count; i++)
        {
            var intent = commit.Intents[i];
            var insert = session.Prepared(InsertIntent);
            WriterSession.Set(insert, "$delivery", commit.DeliveryId);
            WriterSession.Set(insert, "$conversation", intent.ConversationId);
            WriterSession.Set(insert, "$rule", intent.Rule);
            WriterSession.Set(insert, "$action", intent.Action);
            WriterSession.Set(insert, "$arguments", intent.Arguments);
            WriterSession.Set(insert, "$places", intent.SecretPlaces);
            WriterSession.Set(insert, "$destination", commit.DestinationOf(i));
            WriterSession.Set(insert, "$at", commit.ProcessedAt.ToUnixTimeMilliseconds());
            insert.ExecuteNonQuery();
        }

        foreach (var timer in commit.Timers ?? [])
        {
            var write = session.Command(timer.DueAt is null ? CancelTimer : ScheduleTimer);
            write.Parameters.AddWithValue("$conversation", timer.ConversationId);
            write.Parameters.AddWithValue("$name", timer.Name);
            write.Parameters.AddWithValue("$rule", timer.Rule);
            write.Parameters.AddWithValue("$delivery", commit.DeliveryId);
            write.Parameters.AddWithValue("$at", commit.ProcessedAt.ToUnixTimeMilliseconds());
            if (timer.DueAt is { } due)
            {
                write.Parameters.AddWithValue("$due", due.ToUnixTimeMilliseconds());
            }

            write.ExecuteNonQuery();
        }

        return released;
    }
}

/// <summary>
/// Records a failed attempt. A parked delivery's conversation moves past it; otherwise it stays
/// pending for another attempt.
/// </summary>
internal sealed class RecordFailureOperation(DeliveryFailure failure, PendingPrefetch? prefetch = null) : WriteOperation<bool>
{
    private const string MarkFailed = $"""
            UPDATE deliveries SET attempts = attempts + 1, last_error = $error, outcome = $outcome, result = COALESCE($result, result)
            WHERE id = $id AND outcome = '{DeliveryOutcome.Pending}'
            """;

    private readonly string? _resultJson = failure.Result?.ToJson();

    protected override bool Run(WriterSession session)
    {
        ClaimFence.Check(session, failure.Claim);
        prefetch?.Invalidate(failure.ConversationId);
        var update = session.Command(MarkFailed);
        update.Parameters.AddWithValue("$id", failure.DeliveryId);
        update.Parameters.AddWithValue("$error", failure.Error);
        update.Parameters.AddWithValue("$outcome", failure.Park ? DeliveryOutcome.Parked : DeliveryOutcome.Pending);
        update.Parameters.AddWithValue("$result", (object?)_resultJson ?? DBNull.Value);
        update.ExecuteNonQuery();
        if (failure.Park)
        {
            var state = session.Command("""
                INSERT INTO conversations (id, last_applied_seq) VALUES ($id, $seq)
                ON CONFLICT (id) DO UPDATE SET last_applied_seq = MAX(last_applied_seq, excluded.last_applied_seq)
                """);
            state.Parameters.AddWithValue("$id", failure.ConversationId);
            state.Parameters.AddWithValue("$seq", failure.Sequence);
            state.ExecuteNonQuery();
        }

        return true;
    }
}

/// <summary>Puts a parked or done conversation delivery back to pending with fresh attempts (a re-run). False when it is neither.</summary>
internal sealed class RequeueOperation(long deliveryId, WorkHints? hints = null, PendingPrefetch? prefetch = null) : WriteOperation<bool>
{
    private const string Requeue = $"""
            UPDATE deliveries SET outcome = '{DeliveryOutcome.Pending}', attempts = 0
            WHERE id = $id AND outcome IN ('{DeliveryOutcome.Parked}', '{DeliveryOutcome.Done}') AND conversation_id IS NOT NULL
            """;

    protected override bool Run(WriterSession session)
    {
        var update = session.Command(Requeue);
        update.Parameters.AddWithValue("$id", deliveryId);
        if (update.ExecuteNonQuery() != 1)
        {
            return false;
        }

        var conversation = session.Command("SELECT conversation_id FROM deliveries WHERE id = $id");
        conversation.Parameters.AddWithValue("$id", deliveryId);
        _conversationId = Convert.ToInt32(conversation.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        prefetch?.Invalidate(_conversationId);
        return true;
    }

    private int _conversationId;

    protected override void OnCommitted(bool result)
    {
        if (result)
        {
            hints?.Stored(new WorkHint(_conversationId, deliveryId));
        }
    }
}

/// <summary>Records a rule generation that was loaded (<c>active</c>) or refused (<c>failed</c>, with its diagnostics).</summary>
internal sealed class RecordGenerationOperation(string contentHash, DateTimeOffset loadedAt, bool loaded, int rules, string? diagnostics)
    : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var insert = session.Command("""
            INSERT INTO rule_generations (content_hash, loaded_at, outcome, rules, diagnostics)
            VALUES ($hash, $at, $outcome, $rules, $diagnostics)
            """);
        insert.Parameters.AddWithValue("$hash", contentHash);
        insert.Parameters.AddWithValue("$at", loadedAt.ToUnixTimeMilliseconds());
        insert.Parameters.AddWithValue("$outcome", loaded ? GenerationOutcome.Active : GenerationOutcome.Failed);
        insert.Parameters.AddWithValue("$rules", rules);
        insert.Parameters.AddWithValue("$diagnostics", (object?)diagnostics ?? DBNull.Value);
        insert.ExecuteNonQuery();
        return true;
    }
}

/// <summary>The <c>outcome</c> of a rule generation record.</summary>
internal static class GenerationOutcome
{
    /// <summary>Loaded and put in force.</summary>
    public const string Active = "active";

    /// <summary>Did not compile; the generation before it stayed in force.</summary>
    public const string Failed = "failed";
}
