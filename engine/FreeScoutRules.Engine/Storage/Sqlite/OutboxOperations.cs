namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Claims due intents for an instance (docs/design.md, "Actions"), in one write: the oldest pending intents whose time has
/// come, that no live instance holds (but the claimer's own orphaned claims, <see cref="IntentSlots.Held"/>) and that no earlier pending intent of their conversation and destination holds
/// back (unless their action is unordered), as many as the slots have room for, each marked with the instance and a
/// new random token. Their deliveries' bodies are read in the same transaction (decoded later, by the attempt that
/// needs one), so that nothing is claimed that cannot be handed out. Nothing is claimed for an instance whose own lease
/// is no longer alive: another would take it over at once.
/// </summary>
internal sealed class ClaimIntentsOperation(long instanceId, IntentSlots slots, IReadOnlySet<string> unordered, DateTimeOffset now) : WriteOperation<ClaimedIntents>
{
    private const string Alive = "SELECT 1 FROM instances WHERE id = $instance AND expires_at > $now AND left_at IS NULL";

    private const string Take = "UPDATE action_intents SET claim_instance = $instance, claim_token = $token, claimed_at = $now WHERE id = $id";

    private const string Body = "SELECT d.event, b.body, b.encoding FROM deliveries d JOIN delivery_bodies b ON b.delivery_id = d.id WHERE d.id = $delivery";

    private static readonly ClaimedIntents Nothing = new([], More: false);

    protected override ClaimedIntents Run(WriterSession session)
    {
        var at = now.ToUnixTimeMilliseconds();
        var alive = session.Prepared(Alive);
        WriterSession.Set(alive, "$instance", instanceId);
        WriterSession.Set(alive, "$now", at);
        if (slots.Limit <= 0 || alive.ExecuteScalar() is null)
        {
            return Nothing;
        }

        var candidates = Candidates(session, at, slots.Scan);
        var claimed = new List<DueIntent>();
        var take = session.Prepared(Take);
        var fit = slots.Fit(candidates, c => c.Destination, out var more);
        foreach (var intent in fit)
        {
            var token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
            WriterSession.Set(take, "$instance", instanceId);
            WriterSession.Set(take, "$token", token);
            WriterSession.Set(take, "$now", at);
            WriterSession.Set(take, "$id", intent.Id);
            take.ExecuteNonQuery();
            claimed.Add(intent with { Claim = new IntentClaim(intent.Id, instanceId, token) });
        }

        return new ClaimedIntents(WithSources(session, claimed), more);
    }

    private List<DueIntent> Candidates(WriterSession session, long at, int scan)
    {
        var saturated = slots.Saturated;
        var exempt = Names("$unordered", unordered.Count);
        var full = Names("$saturated", saturated.Count);
        var held = slots.Held;
        // The claimer's own orphaned claims (IntentSlots.Held): its instance's, under a token it does not hold.
        var orphaned = held is null ? ""
            : held.Count == 0 ? "OR i.claim_instance = $instance"
            : $"OR (i.claim_instance = $instance AND i.claim_token NOT IN ({Names("$held", held.Count)}))";
        // The LIMIT written out, not bound: a bound LIMIT makes SQLite prepare the statement again on every run (PendingPrefetch).
        var command = session.Command($"""
            SELECT i.id, i.delivery_id, i.conversation_id, i.rule, i.action, i.arguments, i.attempts, i.retry_base, i.secret_places,
                   i.destination, {OutboxQueries.IdempotencyKeySql}
            FROM action_intents i
            WHERE i.state = '{IntentState.Pending}' AND (i.next_attempt_at IS NULL OR i.next_attempt_at <= $now)
              AND (i.claim_instance IS NULL {orphaned} OR NOT EXISTS (
                SELECT 1 FROM instances n WHERE n.id = i.claim_instance AND n.expires_at > $now AND n.left_at IS NULL))
              {(full.Length == 0 ? "" : $"AND i.destination NOT IN ({full})")}
              {(session.Mutations.HasFlag(SqliteMutation.OutboxUnordered) ? "" : $"""
              AND ({(exempt.Length == 0 ? "" : $"i.action IN ({exempt}) OR ")}NOT EXISTS (
                SELECT 1 FROM action_intents e
                WHERE e.conversation_id = i.conversation_id AND e.destination = i.destination AND e.state = '{IntentState.Pending}' AND e.id < i.id
                  {(exempt.Length == 0 ? "" : $"AND e.action NOT IN ({exempt})")}))
              """)}
            ORDER BY i.id LIMIT {scan}
            """);
        Bind(command, "$unordered", unordered);
        Bind(command, "$saturated", saturated);
        if (held is not null)
        {
            Bind(command, "$held", held);
            command.Parameters.AddWithValue("$instance", instanceId);
        }

        command.Parameters.AddWithValue("$now", at);
        var candidates = new List<DueIntent>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            candidates.Add(new DueIntent(
                reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.GetInt32(6),
                RetryBase: reader.GetInt32(7), SecretPlaces: reader.IsDBNull(8) ? null : reader.GetString(8))
            {
                Destination = reader.GetString(9),
                IdempotencyKey = reader.GetString(10),
                Claim = null!, // set when claimed
            });
        }

        return candidates;
    }

    /// <summary>The claimed intents with their deliveries' bodies (one read per delivery), kept as stored until an attempt needs one.</summary>
    private static List<DueIntent> WithSources(WriterSession session, List<DueIntent> claimed)
    {
        if (claimed.Count == 0)
        {
            return claimed;
        }

        var sources = new Dictionary<long, DeliverySource?>();
        var read = session.Prepared(Body);
        for (var i = 0; i < claimed.Count; i++)
        {
            var deliveryId = claimed[i].DeliveryId;
            if (!sources.TryGetValue(deliveryId, out var source))
            {
                WriterSession.Set(read, "$delivery", deliveryId);
                using (var reader = read.ExecuteReader())
                {
                    if (reader.Read())
                    {
                        var stored = (byte[])reader.GetValue(1);
                        var encoding = reader.IsDBNull(2) ? null : reader.GetString(2);
                        source = new DeliverySource(reader.GetString(0), () => BodyEncoding.Decode(stored, encoding));
                    }
                }

                sources[deliveryId] = source; // null once its body is pruned
            }

            if (source is not null)
            {
                claimed[i] = claimed[i] with { Delivery = source };
            }
        }

        return claimed;
    }

    /// <summary>The names of <paramref name="count"/> parameters (<paramref name="prefix"/>0, 1, …), comma-separated.</summary>
    private static string Names(string prefix, int count) =>
        string.Join(", ", Enumerable.Range(0, count).Select(i => prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Binds <paramref name="values"/> to the parameters <see cref="Names"/> named.</summary>
    private static void Bind(Microsoft.Data.Sqlite.SqliteCommand command, string prefix, IEnumerable<string> values)
    {
        var i = 0;
        foreach (var value in values)
        {
            command.Parameters.AddWithValue(prefix + (i++).ToString(System.Globalization.CultureInfo.InvariantCulture), value);
        }
    }
}

/// <summary>
/// Records one attempt and its consequence in one transaction, under the intent's claim: the intent's new state (done,
/// dead, or pending until <c>next_attempt_at</c>) with its claim ended, and the attempt row. Refused, before anything is
/// written, when the intent is no longer held with the attempt's token (another instance claimed it since, or it was
/// retried by hand).
/// </summary>
internal sealed class RecordAttemptOperation(AttemptCommit attempt) : WriteOperation<bool>
{
    private const string UpdateIntent = $"""
            UPDATE action_intents SET attempts = $attempt, state = $state, last_error = CASE WHEN $state = '{IntentState.Done}' THEN NULL ELSE $error END, next_attempt_at = $next,
                completed_at = CASE WHEN $state = '{IntentState.Pending}' THEN NULL ELSE $now END,
                claim_instance = NULL, claim_token = NULL, claimed_at = NULL
            WHERE id = $intent AND claim_token = $token
            """;

    private const string InsertAttempt = """
            INSERT INTO action_attempts (intent_id, attempt, started_at, duration_ms, outcome, error)
            VALUES ($intent, $attempt, $started, $duration, $outcome, $error)
            """;

    protected override bool Run(WriterSession session)
    {
        // The intent first: its condition is the fence, and a refusal has then written nothing.
        var update = session.Prepared(UpdateIntent);
        WriterSession.Set(update, "$intent", attempt.IntentId);
        WriterSession.Set(update, "$token", attempt.Claim.Token);
        WriterSession.Set(update, "$attempt", attempt.Attempt);
        WriterSession.Set(update, "$state", attempt.NewState);
        WriterSession.Set(update, "$error", attempt.Error);
        WriterSession.Set(update, "$next", attempt.NextAttemptAt?.ToUnixTimeMilliseconds());
        WriterSession.Set(update, "$now", (attempt.StartedAt + attempt.Duration).ToUnixTimeMilliseconds());
        if (update.ExecuteNonQuery() == 0)
        {
            throw new WriteRefusedException(new ClaimLostException(IntentClaimFence.Lost(session, attempt.Claim, "its attempt's record")));
        }

        var insert = session.Prepared(InsertAttempt);
        WriterSession.Set(insert, "$intent", attempt.IntentId);
        WriterSession.Set(insert, "$attempt", attempt.Attempt);
        WriterSession.Set(insert, "$started", attempt.StartedAt.ToUnixTimeMilliseconds());
        WriterSession.Set(insert, "$duration", attempt.Duration.TotalMilliseconds);
        WriterSession.Set(insert, "$outcome", attempt.Outcome);
        WriterSession.Set(insert, "$error", attempt.Error);
        insert.ExecuteNonQuery();
        return true;
    }
}

/// <summary>Gives an intent's claim back without an attempt on record, when it is still held under that claim.</summary>
internal sealed class ReleaseIntentOperation(IntentClaim claim) : WriteOperation<bool>
{
    private const string Release = "UPDATE action_intents SET claim_instance = NULL, claim_token = NULL, claimed_at = NULL WHERE id = $intent AND claim_token = $token";

    protected override bool Run(WriterSession session)
    {
        var release = session.Prepared(Release);
        WriterSession.Set(release, "$intent", claim.IntentId);
        WriterSession.Set(release, "$token", claim.Token);
        return release.ExecuteNonQuery() == 1;
    }
}

/// <summary>Why a write under an intent's claim was refused: who holds the intent now, for the message.</summary>
internal static class IntentClaimFence
{
    public static string Lost(WriterSession session, IntentClaim claim, string what)
    {
        var current = session.Command("SELECT state, claim_instance FROM action_intents WHERE id = $intent");
        current.Parameters.AddWithValue("$intent", claim.IntentId);
        using var reader = current.ExecuteReader();
        var now = !reader.Read() ? "it no longer exists"
            : reader.IsDBNull(1) ? $"nobody holds it now (it is {reader.GetString(0)})"
            : $"instance {reader.GetInt64(1)} holds it now (it is {reader.GetString(0)})";
        return $"The claim of instance {claim.InstanceId} on action intent {claim.IntentId} is lost: {now}. {char.ToUpperInvariant(what[0])}{what[1..]} was not written; the other holder's attempt stands.";
    }
}

/// <summary>Puts a dead intent back in line with fresh attempts (manual retry), claimed by nobody: a record under an earlier claim is refused. False when it is not dead.</summary>
internal sealed class RetryDeadIntentOperation(long intentId, DateTimeOffset now) : WriteOperation<bool>
{
    private const string Revive = $"""
            UPDATE action_intents SET state = '{IntentState.Pending}', retry_base = attempts, retried_at = $now, next_attempt_at = NULL, completed_at = NULL,
                claim_instance = NULL, claim_token = NULL, claimed_at = NULL
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
