using System.Security.Cryptography;
using FreeScoutRules.Actions;

namespace FreeScoutRules.Engine.Storage.InMemory;

/// <summary>
/// The outbox (<see cref="IOutbox"/>): intents committed with their evaluations, claimed under an instance's lease with a
/// token, their attempts recorded under their claim, in order per conversation and destination.
/// </summary>
internal sealed partial class InMemoryStore
{
    private readonly SortedDictionary<long, IntentRow> _intents = [];
    private readonly Dictionary<int, List<IntentRow>> _intentsByConversation = [];
    private long _lastIntentId;

    /// <summary>
    /// Claims the oldest due intents for <paramref name="holder"/>, each under a new token, as many as the slots have room
    /// for: pending, their time come, held by no live instance, and not behind an earlier pending intent of their
    /// conversation and destination (unless their action is unordered). Nothing for a holder whose own lease ended.
    /// </summary>
    public Task<ClaimedIntents> ClaimDueAsync(InstanceLease holder, IntentSlots slots, IReadOnlySet<string> unordered, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(unordered);
        return Write(() =>
        {
            var now = _time.GetUtcNow();
            if (slots.Limit <= 0 || !Alive(holder.Id, now))
            {
                return new ClaimedIntents([], More: false);
            }

            // What a claim may look at (IntentSlots.Scan), of which IntentSlots.Fit picks what fits.
            var saturated = slots.Saturated.ToHashSet(StringComparer.Ordinal);
            var candidates = _intents.Values
                .Where(i => i.State == IntentState.Pending && (i.NextAttemptAt is null || i.NextAttemptAt <= now)
                    && (i.ClaimInstance is not { } holding || !Alive(holding, now) || Orphaned(i, holder, slots.Held)) && !saturated.Contains(i.Destination)
                    && (unordered.Contains(i.Action) || WaitingFor(i, unordered) is null))
                .Take(slots.Scan)
                .ToList();
            var claimed = new List<DueIntent>();
            var sources = new Dictionary<long, DeliverySource?>();
            var fit = slots.Fit(candidates, c => c.Destination, out var more);
            foreach (var intent in fit)
            {
                (intent.ClaimInstance, intent.ClaimToken) = (holder.Id, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
                claimed.Add(new DueIntent(
                    intent.Id, intent.DeliveryId, intent.ConversationId, intent.Rule, intent.Action, intent.Arguments, intent.Attempts,
                    Source(intent.DeliveryId, sources), intent.RetryBase, intent.SecretPlaces)
                {
                    Destination = intent.Destination,
                    IdempotencyKey = IdempotencyKey(intent.Id),
                    Claim = new IntentClaim(intent.Id, holder.Id, intent.ClaimToken),
                });
            }

            return new ClaimedIntents(claimed, more);
        }, null, cancellationToken);
    }

    /// <summary>Claimed under <paramref name="holder"/>'s instance with a token it does not hold (<see cref="IntentSlots.Held"/>, when given).</summary>
    private static bool Orphaned(IntentRow intent, InstanceLease holder, IReadOnlyCollection<string>? held) =>
        held is not null && intent.ClaimInstance == holder.Id && !held.Contains(intent.ClaimToken!);

    public Task<IReadOnlyList<IntentRecord>> ListAsync(long? deliveryId, string? state, int limit, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<IntentRecord>>(() =>
        [
            .. _intents.Values.Reverse()
                .Where(i => (deliveryId is null || i.DeliveryId == deliveryId) && (state is null || i.State == state))
                .Take(limit)
                .Select(i => new IntentRecord(
                    i.Id, i.DeliveryId, i.ConversationId, i.Rule, i.Action, i.Arguments, i.State, i.Attempts, i.CreatedAt, i.NextAttemptAt, i.CompletedAt,
                    i.LastError, [.. i.AttemptLog.OrderBy(a => a.StartedAt)])
                {
                    WaitingFor = i.State == IntentState.Pending ? WaitingFor(i, null) : null,
                    SecretPlaces = i.SecretPlaces,
                    Destination = i.Destination,
                    IdempotencyKey = IdempotencyKey(i.Id),
                }),
        ], cancellationToken);

    public Task RecordAttemptAsync(AttemptCommit attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return Write(() =>
        {
            // The fence first: a record under a claim that is no longer the intent's writes nothing.
            var intent = Held(attempt.Claim, "its attempt's record");
            intent.AttemptLog.Add(new AttemptRecord(attempt.Attempt, attempt.StartedAt, attempt.Duration.TotalMilliseconds, attempt.Outcome, attempt.Error));
            intent.Attempts = attempt.Attempt;
            intent.State = attempt.NewState;
            intent.LastError = attempt.NewState == IntentState.Done ? null : attempt.Error;
            intent.NextAttemptAt = attempt.NextAttemptAt;
            intent.CompletedAt = attempt.NewState == IntentState.Pending ? null : attempt.StartedAt + attempt.Duration;
            (intent.ClaimInstance, intent.ClaimToken) = (null, null);
            return true;
        }, null, cancellationToken);
    }

    /// <summary>Gives an intent's claim back without an attempt on record; false when it is no longer held under it.</summary>
    public Task<bool> ReleaseAsync(IntentClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return Write(() =>
        {
            if (!_intents.TryGetValue(claim.IntentId, out var intent) || intent.ClaimToken != claim.Token)
            {
                return false;
            }

            (intent.ClaimInstance, intent.ClaimToken) = (null, null);
            return true;
        }, null, cancellationToken);
    }

    /// <summary>Puts a dead intent back in line with fresh attempts, claimed by nobody. False when it is not dead.</summary>
    public Task<bool> RetryDeadAsync(long intentId, DateTimeOffset now, CancellationToken cancellationToken) =>
        Write(() =>
        {
            if (!_intents.TryGetValue(intentId, out var intent) || intent.State != IntentState.Dead)
            {
                return false;
            }

            (intent.State, intent.RetryBase, intent.RetriedAt, intent.NextAttemptAt, intent.CompletedAt) = (IntentState.Pending, intent.Attempts, now, null, null);
            (intent.ClaimInstance, intent.ClaimToken) = (null, null);
            return true;
        }, null, cancellationToken);

    public Task<OutboxStats> StatsAsync(CancellationToken cancellationToken) =>
        Read(() =>
        {
            var pending = _intents.Values.Where(i => i.State == IntentState.Pending).ToList();
            return new OutboxStats(
                pending.Count, _intents.Values.Count(i => i.State == IntentState.Dead), pending.Count == 0 ? null : pending.Min(i => i.RetriedAt ?? i.CreatedAt));
        }, cancellationToken);

    /// <summary>A committed intent, pending, under the lock.</summary>
    private void AddIntent(long deliveryId, ActionIntent intent, string destination, DateTimeOffset at)
    {
        var row = new IntentRow
        {
            Id = ++_lastIntentId,
            DeliveryId = deliveryId,
            ConversationId = intent.ConversationId,
            Rule = intent.Rule,
            Action = intent.Action,
            Arguments = intent.Arguments,
            SecretPlaces = intent.SecretPlaces,
            Destination = destination,
            CreatedAt = at,
        };
        _intents.Add(row.Id, row);
        (_intentsByConversation.TryGetValue(row.ConversationId, out var intents) ? intents : _intentsByConversation[row.ConversationId] = []).Add(row);
    }

    /// <summary>The intent held under <paramref name="claim"/>; refused (<see cref="ClaimLostException"/>) when it is not, saying who holds it now.</summary>
    private IntentRow Held(IntentClaim claim, string what)
    {
        if (_intents.TryGetValue(claim.IntentId, out var intent) && intent.ClaimToken == claim.Token)
        {
            return intent;
        }

        var now = intent is null ? "it no longer exists"
            : intent.ClaimInstance is { } holder ? $"instance {holder} holds it now (it is {intent.State})"
            : $"nobody holds it now (it is {intent.State})";
        throw new ClaimLostException(
            $"The claim of instance {claim.InstanceId} on action intent {claim.IntentId} is lost: {now}. {char.ToUpperInvariant(what[0])}{what[1..]} was not written; the other holder's attempt stands.");
    }

    /// <summary>
    /// The earliest pending intent of the same conversation and destination before <paramref name="intent"/> (the one it
    /// waits for), leaving out those of <paramref name="unordered"/> actions, which hold no other back.
    /// </summary>
    private long? WaitingFor(IntentRow intent, IReadOnlySet<string>? unordered) =>
        _intentsByConversation[intent.ConversationId]
            .FirstOrDefault(e => e.Id < intent.Id && e.State == IntentState.Pending && e.Destination == intent.Destination
                && unordered?.Contains(e.Action) != true)?.Id;

    /// <summary>The snapshot of an intent's delivery, one per delivery; <c>null</c> once its body is pruned.</summary>
    private DeliverySource? Source(long deliveryId, Dictionary<long, DeliverySource?> sources)
    {
        if (!sources.TryGetValue(deliveryId, out var source))
        {
            sources[deliveryId] = source = _deliveries.TryGetValue(deliveryId, out var delivery) && delivery.Body is { } body
                ? new DeliverySource(delivery.Event, body)
                : null;
        }

        return source;
    }

    private string IdempotencyKey(long intentId) => $"fsr-{InstallationId}-{intentId}";

    private sealed class IntentRow
    {
        public required long Id { get; init; }

        public required long DeliveryId { get; init; }

        public required int ConversationId { get; init; }

        public required string Rule { get; init; }

        public required string Action { get; init; }

        public required string Arguments { get; init; }

        public string? SecretPlaces { get; init; }

        public required string Destination { get; init; }

        public DateTimeOffset CreatedAt { get; init; }

        public string State { get; set; } = IntentState.Pending;

        public int Attempts { get; set; }

        /// <summary>The attempts made before the last manual retry.</summary>
        public int RetryBase { get; set; }

        public DateTimeOffset? RetriedAt { get; set; }

        public DateTimeOffset? NextAttemptAt { get; set; }

        public DateTimeOffset? CompletedAt { get; set; }

        public string? LastError { get; set; }

        public List<AttemptRecord> AttemptLog { get; } = [];

        /// <summary>The instance that claimed it, while its claim lasts.</summary>
        public long? ClaimInstance { get; set; }

        /// <summary>The claim's token: an attempt's record carries it.</summary>
        public string? ClaimToken { get; set; }
    }
}
