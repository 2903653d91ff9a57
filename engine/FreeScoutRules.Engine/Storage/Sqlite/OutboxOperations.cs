namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Records one attempt and its consequence in one transaction: the attempt row, and the intent's new
/// state (done, dead, or pending until <c>next_attempt_at</c>).
/// </summary>
internal sealed class RecordAttemptOperation(AttemptCommit attempt) : WriteOperation<bool>
{
    private const string UpdateIntent = $"""
            UPDATE action_intents SET attempts = $attempt, state = $state, last_error = CASE WHEN $state = '{IntentState.Done}' THEN NULL ELSE $error END, next_attempt_at = $next,
                completed_at = CASE WHEN $state = '{IntentState.Pending}' THEN NULL ELSE $now END
            WHERE id = $intent
            """;

    protected override bool Run(WriterSession session)
    {
        var insert = session.Command("""
            INSERT INTO action_attempts (intent_id, attempt, started_at, duration_ms, outcome, error)
            VALUES ($intent, $attempt, $started, $duration, $outcome, $error)
            """);
        insert.Parameters.AddWithValue("$intent", attempt.IntentId);
        insert.Parameters.AddWithValue("$attempt", attempt.Attempt);
        insert.Parameters.AddWithValue("$started", attempt.StartedAt.ToUnixTimeMilliseconds());
        insert.Parameters.AddWithValue("$duration", attempt.Duration.TotalMilliseconds);
        insert.Parameters.AddWithValue("$outcome", attempt.Outcome);
        insert.Parameters.AddWithValue("$error", (object?)attempt.Error ?? DBNull.Value);
        insert.ExecuteNonQuery();

        var update = session.Command(UpdateIntent);
        update.Parameters.AddWithValue("$intent", attempt.IntentId);
        update.Parameters.AddWithValue("$attempt", attempt.Attempt);
        update.Parameters.AddWithValue("$state", attempt.NewState);
        update.Parameters.AddWithValue("$error", (object?)attempt.Error ?? DBNull.Value);
        update.Parameters.AddWithValue("$next", (object?)attempt.NextAttemptAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        update.Parameters.AddWithValue("$now", (attempt.StartedAt + attempt.Duration).ToUnixTimeMilliseconds());
        update.ExecuteNonQuery();
        return true;
    }
}

/// <summary>Puts a dead intent back in line with fresh attempts (manual retry). False when it is not dead.</summary>
internal sealed class RetryDeadIntentOperation(long intentId, DateTimeOffset now) : WriteOperation<bool>
{
    private const string Revive = $"""
            UPDATE action_intents SET state = '{IntentState.Pending}', retry_base = attempts, retried_at = $now, next_attempt_at = NULL, completed_at = NULL
            WHERE id = $id AND state = '{IntentState.Dead}'
            """;

    protected override bool Run(WriterSession session)
    {
        var update = session.Command(Revive);
        update.Parameters.AddWithValue("$id", intentId);
        update.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return update.ExecuteNonQuery() == 1;
    }
}
