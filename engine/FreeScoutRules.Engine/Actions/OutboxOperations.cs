using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Actions;

/// <summary>An intent waiting in the outbox.</summary>
internal sealed record DueIntent(long Id, long DeliveryId, int ConversationId, string Rule, string Action, string Arguments, int Attempts)
{
    /// <summary>The event and body of the delivery that caused the intent, for the conversation snapshot.</summary>
    public (string Event, byte[] Body)? Delivery { get; init; }
}

/// <summary>The states of an intent in the outbox.</summary>
internal static class IntentState
{
    public const string Pending = "pending";
    public const string Done = "done";

    /// <summary>Failed permanently or ran out of attempts; retried only by hand.</summary>
    public const string Dead = "dead";
}

/// <summary>
/// Records one attempt and its consequence in one transaction: the attempt row, and the intent's new
/// state (done, dead, or pending until <c>next_attempt_at</c>).
/// </summary>
internal sealed class RecordAttemptOperation(
    long intentId, int attempt, DateTimeOffset startedAt, TimeSpan duration, string outcome, string? error,
    string newState, DateTimeOffset? nextAttemptAt) : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var insert = session.Command("""
            INSERT INTO action_attempts (intent_id, attempt, started_at, duration_ms, outcome, error)
            VALUES ($intent, $attempt, $started, $duration, $outcome, $error)
            """);
        insert.Parameters.AddWithValue("$intent", intentId);
        insert.Parameters.AddWithValue("$attempt", attempt);
        insert.Parameters.AddWithValue("$started", startedAt.ToUnixTimeMilliseconds());
        insert.Parameters.AddWithValue("$duration", duration.TotalMilliseconds);
        insert.Parameters.AddWithValue("$outcome", outcome);
        insert.Parameters.AddWithValue("$error", (object?)error ?? DBNull.Value);
        insert.ExecuteNonQuery();

        var update = session.Command("""
            UPDATE action_intents SET attempts = $attempt, state = $state, last_error = $error, next_attempt_at = $next,
                completed_at = CASE WHEN $state = 'pending' THEN NULL ELSE $now END
            WHERE id = $intent
            """);
        update.Parameters.AddWithValue("$intent", intentId);
        update.Parameters.AddWithValue("$attempt", attempt);
        update.Parameters.AddWithValue("$state", newState);
        update.Parameters.AddWithValue("$error", (object?)error ?? DBNull.Value);
        update.Parameters.AddWithValue("$next", (object?)nextAttemptAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        update.Parameters.AddWithValue("$now", (startedAt + duration).ToUnixTimeMilliseconds());
        update.ExecuteNonQuery();
        return true;
    }
}

/// <summary>Puts a dead intent back in line with fresh attempts (manual retry). False when it is not dead.</summary>
internal sealed class RetryDeadIntentOperation(long intentId) : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var update = session.Command("""
            UPDATE action_intents SET state = 'pending', attempts = 0, next_attempt_at = NULL, completed_at = NULL
            WHERE id = $id AND state = 'dead'
            """);
        update.Parameters.AddWithValue("$id", intentId);
        return update.ExecuteNonQuery() == 1;
    }
}
