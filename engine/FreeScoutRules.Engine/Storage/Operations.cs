using FreeScoutRules.Engine.Processing;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Storage;

/// <summary>The outcome of storing a delivery: its id, its place in its conversation, and whether it was a redelivery.</summary>
internal sealed record StoreResult(long DeliveryId, bool Duplicate, long? Sequence);

/// <summary>The <c>outcome</c> column of a delivery.</summary>
internal static class DeliveryOutcome
{
    /// <summary>Stored, waiting for (or between attempts of) dispatch.</summary>
    public const string Pending = "pending";

    /// <summary>Processed: its state, status changes and intents are committed.</summary>
    public const string Done = "done";

    /// <summary>Stored for audit but runs no rules (customer events).</summary>
    public const string Skipped = "skipped";

    /// <summary>Failed every attempt; visible and replayable, no longer blocking its conversation.</summary>
    public const string Parked = "parked";

    public static readonly IReadOnlyList<string> All = [Pending, Done, Skipped, Parked];
}

/// <summary>
/// Stores a new delivery, or finds the identical earlier one (same event, same body bytes). A new
/// conversation delivery gets the next sequence number of its conversation.
/// </summary>
internal sealed class StoreDeliveryOperation(
    string eventName, byte[] deliveryBody, byte[] bodySha256, Conversation? conversation, DateTimeOffset receivedAt,
    Action<StoreResult, Conversation?>? onCommitted = null)
    : WriteOperation<StoreResult>
{
    private readonly byte[] _body = deliveryBody;

    protected override StoreResult Run(WriterSession session)
    {
        long? sequence = conversation is null ? null : session.LastSequence(conversation.Id) + 1;
        var insert = session.Command("""
            INSERT INTO deliveries (event, body_sha256, conversation_id, seq, received_at, outcome)
            VALUES ($event, $sha, $conversation, $seq, $received, $outcome)
            ON CONFLICT (event, body_sha256) DO NOTHING RETURNING id
            """);
        insert.Parameters.AddWithValue("$event", eventName);
        insert.Parameters.AddWithValue("$sha", bodySha256);
        insert.Parameters.AddWithValue("$conversation", (object?)conversation?.Id ?? DBNull.Value);
        insert.Parameters.AddWithValue("$seq", (object?)sequence ?? DBNull.Value);
        insert.Parameters.AddWithValue("$received", receivedAt.ToUnixTimeMilliseconds());
        insert.Parameters.AddWithValue("$outcome", conversation is null ? DeliveryOutcome.Skipped : DeliveryOutcome.Pending);
        if (insert.ExecuteScalar() is not long id)
        {
            var find = session.Command("SELECT id FROM deliveries WHERE event = $event AND body_sha256 = $sha");
            find.Parameters.AddWithValue("$event", eventName);
            find.Parameters.AddWithValue("$sha", bodySha256);
            return new StoreResult((long)find.ExecuteScalar()!, Duplicate: true, null);
        }

        var body = session.Command("INSERT INTO delivery_bodies (delivery_id, body) VALUES ($id, $body)");
        body.Parameters.AddWithValue("$id", id);
        body.Parameters.AddWithValue("$body", _body);
        body.ExecuteNonQuery();
        if (conversation is not null)
        {
            session.SetLastSequence(conversation.Id, sequence!.Value);
        }

        return new StoreResult(id, Duplicate: false, sequence);
    }

    protected override void OnCommitted(StoreResult result)
    {
        if (!result.Duplicate)
        {
            onCommitted?.Invoke(result, conversation);
        }
    }
}

/// <summary>
/// Commits what one delivery produced, all or nothing: the conversation's new known state and
/// applied sequence, the status changes, the action intents (the outbox) and the done mark.
/// Refuses (and so rolls back) when the delivery is not pending any more: processed exactly once.
/// </summary>
internal sealed class ApplyEvaluationOperation(
    long deliveryId, int conversationId, long sequence, Evaluation evaluation, DateTimeOffset processedAt,
    string? rulesGeneration = null, RuleActionLimit? limit = null)
    : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var suppressed = new List<string>();
        var intents = evaluation.Intents.Where(intent =>
        {
            if (limit is null || !limit.Exceeded(session, intent, processedAt))
            {
                return true;
            }

            suppressed.Add(
                $"Rule '{intent.Rule}' already queued {limit.Count} actions for conversation {intent.ConversationId} within {limit.Window}: '{intent.Action}' was not queued (a runaway rule? our own writes echoed back?).");
            return false;
        }).ToList();
        var resultJson = (DeliveryResult.From(evaluation) with { SuppressedIntents = suppressed.Count == 0 ? null : suppressed }).ToJson();

        var done = session.Command("""
            UPDATE deliveries SET outcome = 'done', attempts = attempts + 1, last_error = NULL, processed_at = $at, result = $result,
                rules_generation = $generation
            WHERE id = $id AND outcome = 'pending'
            """);
        done.Parameters.AddWithValue("$id", deliveryId);
        done.Parameters.AddWithValue("$generation", (object?)rulesGeneration ?? DBNull.Value);
        done.Parameters.AddWithValue("$at", processedAt.ToUnixTimeMilliseconds());
        done.Parameters.AddWithValue("$result", resultJson);
        if (done.ExecuteNonQuery() != 1)
        {
            throw new WriteRefusedException($"Delivery {deliveryId} is not pending; it was processed already.");
        }

        var state = session.Command("""
            INSERT INTO conversations (id, last_applied_seq, status, updated_at) VALUES ($id, $seq, $status, $updated)
            ON CONFLICT (id) DO UPDATE SET last_applied_seq = MAX(last_applied_seq, excluded.last_applied_seq),
                status = COALESCE(excluded.status, status), updated_at = COALESCE(excluded.updated_at, updated_at)
            """);
        state.Parameters.AddWithValue("$id", conversationId);
        state.Parameters.AddWithValue("$seq", sequence);
        state.Parameters.AddWithValue("$status", (object?)evaluation.NextState?.Status ?? DBNull.Value);
        state.Parameters.AddWithValue("$updated", (object?)evaluation.NextState?.UpdatedAt.ToUnixTimeMilliseconds() ?? DBNull.Value);
        state.ExecuteNonQuery();

        foreach (var change in evaluation.StatusChanges)
        {
            var insert = session.Command("""
                INSERT INTO status_changes (delivery_id, conversation_id, number, from_status, to_status, via, at)
                VALUES ($delivery, $conversation, $number, $from, $to, $via, $at)
                """);
            insert.Parameters.AddWithValue("$delivery", deliveryId);
            insert.Parameters.AddWithValue("$conversation", change.ConversationId);
            insert.Parameters.AddWithValue("$number", change.Number);
            insert.Parameters.AddWithValue("$from", (object?)change.From ?? DBNull.Value);
            insert.Parameters.AddWithValue("$to", change.To);
            insert.Parameters.AddWithValue("$via", change.Via);
            insert.Parameters.AddWithValue("$at", change.At.ToUnixTimeMilliseconds());
            insert.ExecuteNonQuery();
        }

        foreach (var intent in intents)
        {
            var insert = session.Command("""
                INSERT INTO action_intents (delivery_id, conversation_id, rule, action, arguments, state, created_at)
                VALUES ($delivery, $conversation, $rule, $action, $arguments, 'pending', $at)
                """);
            insert.Parameters.AddWithValue("$delivery", deliveryId);
            insert.Parameters.AddWithValue("$conversation", intent.ConversationId);
            insert.Parameters.AddWithValue("$rule", intent.Rule);
            insert.Parameters.AddWithValue("$action", intent.Action);
            insert.Parameters.AddWithValue("$arguments", intent.Arguments);
            insert.Parameters.AddWithValue("$at", processedAt.ToUnixTimeMilliseconds());
            insert.ExecuteNonQuery();
        }

        return true;
    }
}

/// <summary>
/// Records a failed attempt. When <paramref name="park"/> is set the delivery is parked and its
/// conversation moves past it; otherwise it stays pending for another attempt.
/// </summary>
internal sealed class RecordFailureOperation(long deliveryId, int conversationId, long sequence, string error, bool park)
    : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var update = session.Command("""
            UPDATE deliveries SET attempts = attempts + 1, last_error = $error, outcome = $outcome
            WHERE id = $id AND outcome = 'pending'
            """);
        update.Parameters.AddWithValue("$id", deliveryId);
        update.Parameters.AddWithValue("$error", error);
        update.Parameters.AddWithValue("$outcome", park ? DeliveryOutcome.Parked : DeliveryOutcome.Pending);
        update.ExecuteNonQuery();
        if (park)
        {
            var state = session.Command("""
                INSERT INTO conversations (id, last_applied_seq) VALUES ($id, $seq)
                ON CONFLICT (id) DO UPDATE SET last_applied_seq = MAX(last_applied_seq, excluded.last_applied_seq)
                """);
            state.Parameters.AddWithValue("$id", conversationId);
            state.Parameters.AddWithValue("$seq", sequence);
            state.ExecuteNonQuery();
        }

        return true;
    }
}

/// <summary>Puts a parked delivery back to pending with fresh attempts (admin replay). False when it is not parked.</summary>
internal sealed class RequeueParkedOperation(long deliveryId) : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var update = session.Command("UPDATE deliveries SET outcome = 'pending', attempts = 0 WHERE id = $id AND outcome = 'parked'");
        update.Parameters.AddWithValue("$id", deliveryId);
        return update.ExecuteNonQuery() == 1;
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
        insert.Parameters.AddWithValue("$outcome", loaded ? "active" : "failed");
        insert.Parameters.AddWithValue("$rules", rules);
        insert.Parameters.AddWithValue("$diagnostics", (object?)diagnostics ?? DBNull.Value);
        insert.ExecuteNonQuery();
        return true;
    }
}

/// <summary>The runaway-rule limit: at most <see cref="Count"/> intents per rule and conversation within <see cref="Window"/>.</summary>
internal sealed record RuleActionLimit(int Count, TimeSpan Window)
{
    /// <summary>True when the rule already queued <see cref="Count"/> intents for the conversation in the window (this transaction included).</summary>
    public bool Exceeded(WriterSession session, FreeScoutRules.Actions.ActionIntent intent, DateTimeOffset now)
    {
        var count = session.Command("""
            SELECT COUNT(*) FROM action_intents WHERE conversation_id = $conversation AND rule = $rule AND created_at >= $since
            """);
        count.Parameters.AddWithValue("$conversation", intent.ConversationId);
        count.Parameters.AddWithValue("$rule", intent.Rule);
        count.Parameters.AddWithValue("$since", (now - Window).ToUnixTimeMilliseconds());
        return (long)count.ExecuteScalar()! >= Count;
    }
}
