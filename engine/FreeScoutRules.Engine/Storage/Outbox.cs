namespace FreeScoutRules.Engine.Storage;

/// <summary>An intent waiting in the outbox.</summary>
/// <remarks>Delivery: The delivery that caused the intent, for the conversation snapshot (one instance for the intents of one delivery); <c>null</c> once its body is pruned.</remarks>
/// <remarks>Attempts: every attempt so far, manual retries included. RetryBase: the attempts made before the last manual retry (the limit counts from there).</remarks>
/// <remarks>SecretPlaces: where the rule put secret references (<see cref="FreeScoutRules.Actions.ActionIntent.SecretPlaces"/>); <c>null</c> for none.</remarks>
internal sealed record DueIntent(
    long Id, long DeliveryId, int ConversationId, string Rule, string Action, string Arguments, int Attempts, DeliverySource? Delivery = null,
    int RetryBase = 0, string? SecretPlaces = null)
{
    /// <summary>Where it goes (<see cref="FreeScoutRules.Actions.IActionHandler.Destination"/>), else its action's name: order and the attempts in flight are per destination.</summary>
    public string Destination { get; init; } = Action;

    /// <summary>The key it is sent with, the same for every attempt and across restarts: <c>fsr-&lt;installation&gt;-&lt;id&gt;</c> (<c>fsr-intent-&lt;id&gt;</c> for intents from before schema 13).</summary>
    public string IdempotencyKey { get; init; } = "";

    /// <summary>The claim it was handed out under: its attempt's record is refused once another instance claimed it since.</summary>
    public required IntentClaim Claim { get; init; }
}

/// <summary>
/// What one claim of due intents may take: at most <see cref="Limit"/> intents, and of one destination at most
/// <see cref="PerDestination"/> less what the claimer has in flight there already (<see cref="InFlight"/>), so that
/// everything claimed can start at once and nothing claimed waits in a process for a slot.
/// </summary>
internal sealed record IntentSlots(int Limit, int PerDestination, IReadOnlyDictionary<string, int> InFlight)
{
    /// <summary>
    /// The claims (tokens) the claimer still holds: attempts in flight and attempts whose record is not written yet. When
    /// given, any other claim the claimer's own instance has on an intent is an orphan, and due again for it (with a new
    /// token and the same idempotency key): a claim whose commit's answer was lost (the database restarted or the
    /// connection broke during the commit, so the claimer never learnt it had the intent), or one it could not give back.
    /// Without it (<c>null</c>), an intent claimed by the claimer's live instance is due for nobody, as for any live holder.
    /// </summary>
    public IReadOnlyCollection<string>? Held { get; init; }

    /// <summary>How many more intents of <paramref name="destination"/> may be claimed now.</summary>
    public int RoomFor(string destination) => PerDestination - InFlight.GetValueOrDefault(destination);

    /// <summary>The destinations with no room left: their intents are not even looked at.</summary>
    public IReadOnlyList<string> Saturated => [.. InFlight.Where(d => d.Value >= PerDestination).Select(d => d.Key)];

    /// <summary>How many candidates a claim looks at: more than the limit, since some may go to a destination that fills up on the way.</summary>
    public int Scan => Limit * 2;

    /// <summary>
    /// The candidates (oldest first, at most <see cref="Scan"/>) that fit: at most <see cref="Limit"/>, and no more per
    /// destination than its room. <paramref name="more"/>: some due were left out (no room, or more than were looked at).
    /// Every store claims what this picks, so that the slots mean the same in each.
    /// </summary>
    public List<T> Fit<T>(IReadOnlyList<T> candidates, Func<T, string> destinationOf, out bool more)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(destinationOf);
        var fit = new List<T>(Math.Min(candidates.Count, Limit));
        var taken = new Dictionary<string, int>(StringComparer.Ordinal);
        more = candidates.Count >= Scan;
        foreach (var candidate in candidates)
        {
            if (fit.Count == Limit)
            {
                more = true;
                break;
            }

            var destination = destinationOf(candidate);
            var destinationTaken = taken.GetValueOrDefault(destination);
            if (destinationTaken >= RoomFor(destination))
            {
                more = true;
                continue;
            }

            taken[destination] = destinationTaken + 1;
            fit.Add(candidate);
        }

        return fit;
    }
}

/// <summary>Intents claimed for an instance; <see cref="More"/>: others were due that the slots left no room for (ask again once there is).</summary>
internal sealed record ClaimedIntents(IReadOnlyList<DueIntent> Intents, bool More);

/// <summary>
/// The event and body of the delivery behind due intents. Its conversation snapshot is parsed on first
/// use and kept, so that the intents of one delivery share one parse.
/// </summary>
internal sealed class DeliverySource
{
    private readonly Lock _gate = new();
    private readonly Func<byte[]>? _read;
    private byte[]? _body;
    private FreeScout.Conversation? _conversation;
    private bool _parsed;

    public DeliverySource(string eventName, byte[] body)
    {
        Event = eventName;
        _body = body;
    }

    /// <param name="eventName">The delivery's event.</param>
    /// <param name="read">
    /// The body as received, from what the store keeps (decompressing it): called on first use, by the attempt that needs
    /// it rather than by the claim, and again after it threw.
    /// </param>
    public DeliverySource(string eventName, Func<byte[]> read)
    {
        Event = eventName;
        _read = read;
    }

    public string Event { get; }

    /// <summary>The body as received.</summary>
    /// <exception cref="InvalidDataException">What the store keeps does not decode.</exception>
    public byte[] Body
    {
        get
        {
            lock (_gate)
            {
                return BodyLocked();
            }
        }
    }

    /// <summary>The conversation in the body, parsed once with <paramref name="parse"/>; <c>null</c> when it holds none.</summary>
    /// <exception cref="InvalidDataException">What the store keeps does not decode.</exception>
    public FreeScout.Conversation? Conversation(Func<string, byte[], FreeScout.Conversation?> parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        lock (_gate)
        {
            if (!_parsed)
            {
                _conversation = parse(Event, BodyLocked());
                _parsed = true;
            }

            return _conversation;
        }
    }

    private byte[] BodyLocked() => _body ??= _read!();
}

/// <summary>An intent with its attempts, as the admin API shows it.</summary>
internal sealed record IntentRecord(
    long Id, long DeliveryId, int ConversationId, string Rule, string Action, string Arguments, string State, int Attempts,
    DateTimeOffset CreatedAt, DateTimeOffset? NextAttemptAt, DateTimeOffset? CompletedAt, string? LastError, IReadOnlyList<AttemptRecord> AttemptLog)
{
    /// <summary>For a pending intent held back to keep its conversation's order: the earlier pending intent it waits for.</summary>
    public long? WaitingFor { get; init; }

    /// <summary>Where the rule put secret references in <see cref="Arguments"/>; <c>null</c> for none.</summary>
    public string? SecretPlaces { get; init; }

    /// <summary>Where it goes (its action's name when its plugin names no destination); order holds per conversation and destination.</summary>
    public string Destination { get; init; } = "";

    /// <summary>The <c>Idempotency-Key</c> every attempt of it is sent with.</summary>
    public string IdempotencyKey { get; init; } = "";
}

/// <summary>One attempt of an intent.</summary>
internal sealed record AttemptRecord(int Attempt, DateTimeOffset StartedAt, double DurationMs, string Outcome, string? Error);

/// <summary>
/// One attempt to record, and the intent's state after it (<see cref="IntentState"/>), under the claim it was made under:
/// the record is refused unless that claim is still the intent's.
/// </summary>
internal sealed record AttemptCommit(
    IntentClaim Claim, int Attempt, DateTimeOffset StartedAt, TimeSpan Duration, string Outcome, string? Error, string NewState, DateTimeOffset? NextAttemptAt)
{
    public long IntentId => Claim.IntentId;
}

/// <summary>The outbox at a glance, for metrics.</summary>
internal sealed record OutboxStats(long Pending, long Dead, DateTimeOffset? OldestPending);

/// <summary>The states of an intent in the outbox.</summary>
internal static class IntentState
{
    public const string Pending = "pending";
    public const string Done = "done";

    /// <summary>Failed permanently or ran out of attempts; retried only by hand.</summary>
    public const string Dead = "dead";
}

/// <summary>The outcome of one attempt.</summary>
internal static class AttemptOutcome
{
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Retryable = "retryable";
}
