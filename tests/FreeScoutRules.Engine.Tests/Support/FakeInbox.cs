using System.Collections.Concurrent;
using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>
/// The inbox port in memory, for dispatcher tests without a database: pending deliveries claimed per conversation
/// (with epochs, and a takeover the test can force), commits and failures recorded in order, and failures like a full disk.
/// </summary>
internal sealed class FakeInbox(WorkHints? hints = null) : IInbox
{
    private readonly ConcurrentDictionary<int, KnownConversation> _states = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<int, (long Instance, long Epoch)> _claims = [];
    private readonly HashSet<long> _finished = [];

    public List<EvaluationCommit> Commits { get; } = [];

    public List<DeliveryFailure> Failures { get; } = [];

    /// <summary>Every delivery stored; pending until committed or parked.</summary>
    public List<StoredDelivery> Pending { get; } = [];

    /// <summary>How many of the next commits fail with a <see cref="StorageException"/>.</summary>
    public int FailNextCommits { get; set; }

    /// <summary>Called inside every commit, before it is checked and recorded (to hold a commit back).</summary>
    public Func<EvaluationCommit, Task>? OnCommit { get; set; }

    /// <summary>Called with every claim's result before it is handed back (to hold a claim back).</summary>
    public Func<IReadOnlyCollection<int>?, IReadOnlyList<ConversationClaim>, Task>? AfterClaim { get; set; }

    /// <summary>How many times a claim was asked for (hinted or a sweep).</summary>
    public int ClaimCalls => Volatile.Read(ref _claimCalls);

    private int _claimCalls;

    /// <summary>Claims made, in order.</summary>
    public List<ConversationClaim> ClaimsMade { get; } = [];

    public int CommitCount
    {
        get
        {
            lock (_gate)
            {
                return Commits.Count;
            }
        }
    }

    public int FailureCount
    {
        get
        {
            lock (_gate)
            {
                return Failures.Count;
            }
        }
    }

    public List<long> CommittedIds()
    {
        lock (_gate)
        {
            return [.. Commits.Select(c => c.DeliveryId)];
        }
    }

    /// <summary>Stores a delivery as pending and, when <paramref name="hint"/>, announces it (with the parsed conversation).</summary>
    public void Add(StoredDelivery delivery, FreeScout.Conversation? parsed = null, bool hint = true)
    {
        lock (_gate)
        {
            Pending.Add(delivery);
        }

        if (hint)
        {
            hints?.Stored(new WorkHint(delivery.ConversationId, delivery.Id, parsed));
        }
    }

    /// <summary>Another instance takes the conversation over (its epoch advances), as after this one's lease expired.</summary>
    public void TakeOver(int conversationId, long byInstance = 999)
    {
        lock (_gate)
        {
            var epoch = _claims.TryGetValue(conversationId, out var claim) ? claim.Epoch : 0;
            _claims[conversationId] = (byInstance, epoch + 1);
        }
    }

    /// <summary>
    /// The database loses a delivery's commit (a crash with <c>synchronous_commit</c> off): the delivery is pending again and
    /// the conversation held again by the claim it was committed under.
    /// </summary>
    public void LoseCommit(long deliveryId)
    {
        lock (_gate)
        {
            var commit = Commits.Single(c => c.DeliveryId == deliveryId);
            _finished.Remove(deliveryId);
            _claims[commit.ConversationId] = (commit.Claim.InstanceId, commit.Claim.Epoch);
        }
    }

    public Task<StoreResult> StoreAsync(NewDelivery delivery, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public async Task<IReadOnlyList<ConversationClaim>> ClaimAsync(InstanceLease holder, IReadOnlyCollection<int>? conversations, int limit, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _claimCalls);
        var claims = Claim(holder, conversations, limit);
        if (AfterClaim is { } hook)
        {
            await hook(conversations, claims);
        }

        return claims;
    }

    private IReadOnlyList<ConversationClaim> Claim(InstanceLease holder, IReadOnlyCollection<int>? conversations, int limit)
    {
        lock (_gate)
        {
            var withWork = Pending.Where(d => !_finished.Contains(d.Id)).OrderBy(d => d.Id).Select(d => d.ConversationId).Distinct();
            var claims = new List<ConversationClaim>();
            foreach (var conversationId in withWork.Where(c => conversations?.Contains(c) != false))
            {
                if (claims.Count >= limit)
                {
                    break;
                }

                if (_claims.TryGetValue(conversationId, out var claim) && claim.Instance != 0 && claim.Instance != holder.Id)
                {
                    continue;
                }

                var epoch = claim.Instance == holder.Id ? claim.Epoch : claim.Epoch + 1;
                _claims[conversationId] = (holder.Id, epoch);
                claims.Add(new ConversationClaim(conversationId, holder.Id, epoch));
            }

            ClaimsMade.AddRange(claims);
            return claims;
        }
    }

    public Task<IReadOnlyList<StoredDelivery>> LoadPendingAsync(ConversationClaim claim, int limit, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<StoredDelivery>>(
                [.. Pending.Where(d => d.ConversationId == claim.ConversationId && !_finished.Contains(d.Id)).OrderBy(d => d.Sequence).Take(limit)]);
        }
    }

    public Task<bool> ReleaseAsync(ConversationClaim claim, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Fence(claim);
            if (Pending.Any(d => d.ConversationId == claim.ConversationId && !_finished.Contains(d.Id)))
            {
                return Task.FromResult(false);
            }

            _claims[claim.ConversationId] = (0, claim.Epoch);
            return Task.FromResult(true);
        }
    }

    public Task<StoredDelivery?> GetStoredAsync(long deliveryId, CancellationToken cancellationToken) =>
        Task.FromResult(Pending.FirstOrDefault(p => p.Id == deliveryId));

    public Task<StoredDelivery?> LoadSnapshotAsync(int conversationId, long beforeSequence, CancellationToken cancellationToken) =>
        Task.FromResult<StoredDelivery?>(null);

    public Task<KnownConversation> LoadConversationAsync(int conversationId, DateTimeOffset intentsSince, CancellationToken cancellationToken) =>
        Task.FromResult(_states.GetValueOrDefault(conversationId) ?? KnownConversation.Unknown(conversationId));

    public async Task<bool> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken)
    {
        if (OnCommit is { } hook)
        {
            await hook(commit);
        }

        lock (_gate)
        {
            if (FailNextCommits > 0)
            {
                FailNextCommits--;
                throw new StorageException("disk full", new IOException("disk full"));
            }

            Fence(commit.Claim);
            if (!_finished.Add(commit.DeliveryId))
            {
                throw new DeliveryNotPendingException(commit.DeliveryId);
            }

            Commits.Add(commit);
        }

        if (commit.NextState is { } next)
        {
            _states[commit.ConversationId] = new KnownConversation(commit.ConversationId, new Facts.PriorState(next.ConversationId, next.Status, next.UpdatedAt), []);
        }

        lock (_gate)
        {
            if (commit.Release && !Pending.Any(d => d.ConversationId == commit.ConversationId && !_finished.Contains(d.Id)))
            {
                _claims[commit.ConversationId] = (0, commit.Claim.Epoch);
                return true;
            }

            return false;
        }
    }

    public Task RecordFailureAsync(DeliveryFailure failure, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Fence(failure.Claim);
            Failures.Add(failure);
            if (failure.Park)
            {
                _finished.Add(failure.DeliveryId);
            }
        }

        return Task.CompletedTask;
    }

    public Task<bool> RequeueAsync(long deliveryId, CancellationToken cancellationToken) => Task.FromResult(false);

    private void Fence(ConversationClaim claim)
    {
        if (!_claims.TryGetValue(claim.ConversationId, out var current) || current.Instance != claim.InstanceId || current.Epoch != claim.Epoch)
        {
            throw new ClaimLostException($"conversation {claim.ConversationId}: claim of instance {claim.InstanceId} at epoch {claim.Epoch} lost");
        }
    }
}
