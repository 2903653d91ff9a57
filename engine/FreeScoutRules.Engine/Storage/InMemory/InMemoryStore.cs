using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Storage.InMemory;

/// <summary>
/// The storage ports in memory (docs/design.md, "The storage port"): what <c>test</c>, <c>replay</c> and <c>explain</c>
/// run on (the <c>OfflineEvaluator</c>), and the second store the contract suite holds to the ports'
/// promises. The ports' rules are kept here as every store keeps them, and nowhere else offline: sequence numbers per
/// conversation (gap-free, in storing order), dedupe (event and body), claims with epochs and their fence, the timer
/// table (a scheduling replaces the pending one of its name and counts its number, a cancel ends it, a firing happens
/// once), the latest snapshot, the outbox's order per conversation and destination, retention. Nothing is durable.
/// Instances share it as processes share a database: none is ended by another's joining. Thread-safe: one lock, every
/// operation done when its task is returned; hints are announced after the lock is let go.
/// </summary>
internal sealed partial class InMemoryStore(TimeProvider? time = null, WorkHints? hints = null)
    : IInbox, IDeliveryHistory, IOutbox, ITimers, IRuleGenerationLog, IStorageLifetime, IRetentionStore, IReconciliationStore, ILeases
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Deliveries by id (ids ascending: arrival order), each conversation's in sequence order, the backlog (pending ones
    // per conversation by sequence, and the conversations that have one, in id order for the sweep), and the dedupe keys.
    private readonly SortedDictionary<long, DeliveryRow> _deliveries = [];
    private readonly Dictionary<int, List<DeliveryRow>> _byConversation = [];
    private readonly Dictionary<int, SortedDictionary<long, DeliveryRow>> _pending = [];
    private readonly SortedSet<int> _backlog = [];
    private readonly Dictionary<(int? ConversationId, string Event, string Sha256), long> _dedupe = [];
    private readonly Dictionary<int, ConversationRow> _conversations = [];
    private readonly List<StatusChangeRow> _statusChanges = [];
    private long _lastDeliveryId;
    private int _sweepAfter = int.MinValue;
    private long _writes;

    /// <summary>Where the data is, for the log.</summary>
    public string Location => "memory";

    /// <summary>Every write is done when its task is returned: nothing waits, nothing is grouped.</summary>
    public IReadOnlyList<StorageMeasure> Measures =>
        [new("freescout_rules.storage.commits", "Writes done (each its own).", () => Interlocked.Read(ref _writes), "{commit}", IsCounter: true)];

    /// <summary>The bodies held (what the store's size is mostly made of).</summary>
    public long SizeBytes
    {
        get
        {
            lock (_gate)
            {
                return _deliveries.Values.Sum(d => (long)(d.Body?.Length ?? 0));
            }
        }
    }

    /// <summary>Made with the store, part of every idempotency key.</summary>
    public string? InstallationId { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Nothing to create: the store is ready when made.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>No writer to run: ends once <see cref="Complete"/> was called.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => _completed.Task.WaitAsync(cancellationToken);

    public void Complete() => _completed.TrySetResult();

    public Task<StoreResult> StoreAsync(NewDelivery delivery, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var body = delivery.Body.ToArray(); // read before the task is returned: the caller may reuse its buffer
        return Write(() => Store(delivery, body), stored => Announce(stored, delivery.ConversationId, delivery.Parsed), cancellationToken);
    }

    public Task<IReadOnlyList<ConversationClaim>> ClaimAsync(
        InstanceLease holder, IReadOnlyCollection<int>? conversations, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holder);
        return Write<IReadOnlyList<ConversationClaim>>(() =>
        {
            var now = _time.GetUtcNow();
            var claims = new List<ConversationClaim>();
            foreach (var conversationId in conversations ?? Sweep(limit))
            {
                if (claims.Count >= limit)
                {
                    break;
                }

                if (!_backlog.Contains(conversationId))
                {
                    continue; // nothing pending: nothing to claim
                }

                var conversation = Conversation(conversationId);
                if (conversation.ClaimInstance is { } current)
                {
                    if (current == holder.Id)
                    {
                        claims.Add(new ConversationClaim(conversationId, holder.Id, conversation.ClaimEpoch)); // ours already
                        continue;
                    }

                    if (Alive(current, now))
                    {
                        continue; // a live holder has it
                    }
                }

                // Free (nobody holds it, or its holder's lease ended): taken, with its epoch advanced.
                conversation.ClaimInstance = holder.Id;
                conversation.ClaimEpoch++;
                claims.Add(new ConversationClaim(conversationId, holder.Id, conversation.ClaimEpoch));
            }

            return claims;
        }, null, cancellationToken);
    }

    public Task<IReadOnlyList<StoredDelivery>> LoadPendingAsync(ConversationClaim claim, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return Read<IReadOnlyList<StoredDelivery>>(
            () => _pending.TryGetValue(claim.ConversationId, out var pending) ? [.. pending.Values.Take(limit).Select(ToStored)] : [],
            cancellationToken);
    }

    public Task<bool> ReleaseAsync(ConversationClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return Write(() =>
        {
            Fence(claim);
            if (_backlog.Contains(claim.ConversationId))
            {
                return false; // work remains: the claim is kept
            }

            Conversation(claim.ConversationId).ClaimInstance = null;
            return true;
        }, null, cancellationToken);
    }

    public Task<StoredDelivery?> GetStoredAsync(long deliveryId, CancellationToken cancellationToken) =>
        Read(() => _deliveries.TryGetValue(deliveryId, out var row) && row.ConversationId is not null ? ToStored(row) : null, cancellationToken);

    public Task<StoredDelivery?> LoadSnapshotAsync(int conversationId, long beforeSequence, CancellationToken cancellationToken) =>
        Read(() =>
        {
            if (!_byConversation.TryGetValue(conversationId, out var deliveries))
            {
                return null;
            }

            // The delivery the known state came from: the newest processed, not stale, not a timer's firing, before it.
            for (var i = deliveries.Count - 1; i >= 0; i--)
            {
                var row = deliveries[i];
                if (row.Sequence < beforeSequence && row.Outcome == DeliveryOutcome.Done
                    && !string.Equals(row.Event, TimerFiring.Event, StringComparison.Ordinal) && row.Result is { Stale: false })
                {
                    return ToStored(row);
                }
            }

            return null;
        }, cancellationToken);

    public Task<KnownConversation> LoadConversationAsync(int conversationId, DateTimeOffset intentsSince, CancellationToken cancellationToken) =>
        Read(() =>
        {
            var known = _conversations.TryGetValue(conversationId, out var conversation) && conversation is { Status: { } status, UpdatedAt: { } updatedAt }
                ? new PriorState(conversationId, status, updatedAt)
                : null;
            var recent = _intentsByConversation.TryGetValue(conversationId, out var intents)
                ? intents.Select(i => (i.Rule, _deliveries[i.DeliveryId].ReceivedAt)).Where(i => i.ReceivedAt >= intentsSince)
                    .Select(i => new RecentIntent(i.Rule, i.ReceivedAt)).ToList()
                : [];
            return new KnownConversation(conversationId, known, recent);
        }, cancellationToken);

    public Task<bool> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        return Write(() =>
        {
            // Every check before the first write: a refusal, or a commit that does not add up, changes nothing.
            Fence(commit.Claim);
            if (!_deliveries.TryGetValue(commit.DeliveryId, out var delivery) || delivery.Outcome != DeliveryOutcome.Pending)
            {
                throw new DeliveryNotPendingException(commit.DeliveryId);
            }

            var destinations = Enumerable.Range(0, commit.Intents.Count).Select(commit.DestinationOf).ToList();

            delivery.Outcome = DeliveryOutcome.Done;
            delivery.Attempts++;
            delivery.LastError = null;
            delivery.ProcessedAt = commit.ProcessedAt;
            delivery.Result = commit.Result;
            delivery.RulesGeneration = commit.RulesGeneration;
            delivery.RuleFailures = commit.Result.RuleFailures?.Count ?? 0;
            Unpend(delivery);

            var conversation = Conversation(commit.ConversationId);
            conversation.LastAppliedSequence = Math.Max(conversation.LastAppliedSequence, commit.Sequence);
            if (commit.NextState is { } next)
            {
                // Milliseconds, the precision stores keep (EvaluationPipeline.Advance does the same).
                (conversation.Status, conversation.UpdatedAt) = (next.Status, DateTimeOffset.FromUnixTimeMilliseconds(next.UpdatedAt.ToUnixTimeMilliseconds()));
            }

            foreach (var change in commit.StatusChanges)
            {
                _statusChanges.Add(new StatusChangeRow(commit.DeliveryId, change.ConversationId, change.Number, change.To, change.At));
            }

            for (var i = 0; i < commit.Intents.Count; i++)
            {
                AddIntent(commit.DeliveryId, commit.Intents[i], destinations[i], commit.ProcessedAt);
            }

            foreach (var timer in commit.Timers ?? [])
            {
                ChangeTimer(timer, commit.DeliveryId, commit.ProcessedAt);
            }

            if (commit.Release && !_backlog.Contains(commit.ConversationId))
            {
                conversation.ClaimInstance = null;
                return true;
            }

            return false;
        }, null, cancellationToken);
    }

    public Task RecordFailureAsync(DeliveryFailure failure, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return Write(() =>
        {
            Fence(failure.Claim);
            if (_deliveries.TryGetValue(failure.DeliveryId, out var delivery) && delivery.Outcome == DeliveryOutcome.Pending)
            {
                delivery.Attempts++;
                delivery.LastError = failure.Error;
                delivery.Result = failure.Result ?? delivery.Result;
                if (failure.Park)
                {
                    delivery.Outcome = DeliveryOutcome.Parked;
                    Unpend(delivery);
                }
            }

            if (failure.Park)
            {
                // A parked delivery no longer holds its conversation's sequence.
                var conversation = Conversation(failure.ConversationId);
                conversation.LastAppliedSequence = Math.Max(conversation.LastAppliedSequence, failure.Sequence);
            }

            return true;
        }, null, cancellationToken);
    }

    public Task<bool> RequeueAsync(long deliveryId, CancellationToken cancellationToken)
    {
        int? conversationId = null;
        return Write(() =>
        {
            if (!_deliveries.TryGetValue(deliveryId, out var delivery) || delivery.ConversationId is not { } conversation
                || delivery.Outcome is not (DeliveryOutcome.Parked or DeliveryOutcome.Done))
            {
                return false;
            }

            delivery.Outcome = DeliveryOutcome.Pending;
            delivery.Attempts = 0;
            Pend(delivery);
            conversationId = conversation;
            return true;
        }, requeued =>
        {
            if (requeued && conversationId is { } conversation)
            {
                hints?.Stored(new WorkHint(conversation, deliveryId));
            }
        }, cancellationToken);
    }

    /// <summary>Stores a delivery, or finds its earlier copy (same conversation, event and body hash). Under the lock.</summary>
    private StoreResult Store(NewDelivery delivery, byte[] body)
    {
        var key = (delivery.ConversationId, delivery.Event, Convert.ToHexString(delivery.BodySha256));
        if (_dedupe.TryGetValue(key, out var earlier))
        {
            return new StoreResult(earlier, Duplicate: true, null);
        }

        long? sequence = delivery.ConversationId is { } conversationId ? ++Conversation(conversationId).LastSequence : null;
        var row = new DeliveryRow
        {
            Id = ++_lastDeliveryId,
            Event = delivery.Event,
            DedupeKey = key,
            ConversationId = delivery.ConversationId,
            Sequence = sequence,
            ReceivedAt = delivery.ReceivedAt,
            Outcome = delivery.ConversationId is null ? DeliveryOutcome.Skipped : DeliveryOutcome.Pending,
            Body = body,
            Parsed = delivery.Parsed,
        };
        _deliveries.Add(row.Id, row);
        _dedupe.Add(key, row.Id);
        if (row.ConversationId is { } conversation)
        {
            (_byConversation.TryGetValue(conversation, out var deliveries) ? deliveries : _byConversation[conversation] = []).Add(row);
            Pend(row);
        }

        return new StoreResult(row.Id, Duplicate: false, sequence);
    }

    private void Announce(StoreResult stored, int? conversationId, FreeScout.Conversation? parsed)
    {
        if (!stored.Duplicate && conversationId is { } conversation)
        {
            hints?.Stored(new WorkHint(conversation, stored.DeliveryId, parsed));
        }
    }

    /// <summary>The next conversations with a backlog after where the last sweep stopped, round and round (as SQLite's sweep walks its index).</summary>
    private List<int> Sweep(int limit)
    {
        var scan = Math.Max(limit * 4, 64);
        var ids = _backlog.Where(c => c > _sweepAfter).Take(scan).ToList();
        if (ids.Count < scan && _sweepAfter != int.MinValue)
        {
            ids.AddRange(_backlog.Where(c => c <= _sweepAfter).Take(scan - ids.Count));
        }

        _sweepAfter = ids.Count == scan ? ids[^1] : int.MinValue;
        return ids;
    }

    /// <summary>The fence: refuses, before anything is written, unless <paramref name="claim"/> is the conversation's claim now.</summary>
    private void Fence(ConversationClaim claim)
    {
        var conversation = _conversations.GetValueOrDefault(claim.ConversationId);
        var (holder, epoch) = (conversation?.ClaimInstance, conversation?.ClaimEpoch ?? 0);
        if (holder != claim.InstanceId || epoch != claim.Epoch)
        {
            var now = holder is null ? $"nobody holds it (epoch {epoch})" : $"instance {holder} holds it at epoch {epoch}";
            throw new ClaimLostException(
                $"The claim of instance {claim.InstanceId} on conversation {claim.ConversationId} (epoch {claim.Epoch}) is lost: {now}. Nothing was written; the holder's writes stand.");
        }
    }

    private ConversationRow Conversation(int conversationId) =>
        _conversations.TryGetValue(conversationId, out var conversation) ? conversation : _conversations[conversationId] = new ConversationRow();

    private void Pend(DeliveryRow delivery)
    {
        var conversation = delivery.ConversationId!.Value;
        (_pending.TryGetValue(conversation, out var pending) ? pending : _pending[conversation] = []).Add(delivery.Sequence!.Value, delivery);
        _backlog.Add(conversation);
    }

    private void Unpend(DeliveryRow delivery)
    {
        var conversation = delivery.ConversationId!.Value;
        if (_pending.TryGetValue(conversation, out var pending) && pending.Remove(delivery.Sequence!.Value) && pending.Count == 0)
        {
            _pending.Remove(conversation);
            _backlog.Remove(conversation);
        }
    }

    private static StoredDelivery ToStored(DeliveryRow row) =>
        new(row.Id, row.Event, row.Body, row.ConversationId!.Value, row.Sequence!.Value, row.ReceivedAt, row.Attempts, row.Outcome, row.Result)
        {
            Parsed = row.Parsed,
        };

    /// <summary>A write under the lock; <paramref name="committed"/> runs after it (hints), outside the lock; a refusal faults the task.</summary>
    private Task<T> Write<T>(Func<T> write, Action<T>? committed, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        T result;
        try
        {
            lock (_gate)
            {
                result = write();
                Interlocked.Increment(ref _writes);
            }
        }
        catch (Exception ex)
        {
            return Task.FromException<T>(ex);
        }

        committed?.Invoke(result);
        return Task.FromResult(result);
    }

    private Task<T> Read<T>(Func<T> read, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        lock (_gate)
        {
            return Task.FromResult(read());
        }
    }

    private sealed class DeliveryRow
    {
        public required long Id { get; init; }

        public required string Event { get; init; }

        public required (int? ConversationId, string Event, string Sha256) DedupeKey { get; init; }

        public int? ConversationId { get; init; }

        public long? Sequence { get; init; }

        public DateTimeOffset ReceivedAt { get; init; }

        public required string Outcome { get; set; }

        public int Attempts { get; set; }

        public string? LastError { get; set; }

        public DateTimeOffset? ProcessedAt { get; set; }

        public DeliveryResult? Result { get; set; }

        public string? RulesGeneration { get; set; }

        /// <summary>How many rules failed on it, as its commit said.</summary>
        public int RuleFailures { get; set; }

        /// <summary>Its raw body; <c>null</c> once retention pruned it.</summary>
        public byte[]? Body { get; set; }

        public FreeScout.Conversation? Parsed { get; set; }

        public DeliveryRecord ToRecord() =>
            new(Id, Event, ConversationId, Sequence, ReceivedAt, Outcome, Attempts, LastError, ProcessedAt, Result, RulesGeneration);
    }

    /// <summary>A conversation: its sequence numbers, its known state, its claim.</summary>
    private sealed class ConversationRow
    {
        /// <summary>The last sequence number given to one of its deliveries.</summary>
        public long LastSequence { get; set; }

        public long LastAppliedSequence { get; set; }

        public string? Status { get; set; }

        public DateTimeOffset? UpdatedAt { get; set; }

        public long? ClaimInstance { get; set; }

        public long ClaimEpoch { get; set; }
    }

    private sealed record StatusChangeRow(long DeliveryId, int ConversationId, int Number, string To, DateTimeOffset At);
}
