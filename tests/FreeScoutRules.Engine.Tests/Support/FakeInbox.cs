using System.Collections.Concurrent;
using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>
/// The inbox port in memory, for dispatcher tests without a database: records what was committed
/// and failed, in order, and can be told to fail like a full disk.
/// </summary>
internal sealed class FakeInbox : IInbox
{
    private readonly ConcurrentDictionary<int, KnownConversation> _states = new();
    private readonly Lock _gate = new();

    public List<EvaluationCommit> Commits { get; } = [];

    public List<DeliveryFailure> Failures { get; } = [];

    public List<StoredDelivery> Pending { get; } = [];

    /// <summary>How many of the next commits fail with a <see cref="StorageException"/>.</summary>
    public int FailNextCommits { get; set; }

    /// <summary>Called inside every commit, before it is recorded (to hold a commit back).</summary>
    public Func<EvaluationCommit, Task>? OnCommit { get; set; }

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

    public Task<StoreResult> StoreAsync(NewDelivery delivery, Action<StoreResult>? onCommitted, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public Task<IReadOnlyList<StoredDelivery>> LoadPendingAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<StoredDelivery>>([.. Pending]);

    public Task<StoredDelivery?> GetStoredAsync(long deliveryId, CancellationToken cancellationToken) =>
        Task.FromResult(Pending.FirstOrDefault(p => p.Id == deliveryId));

    public Task<StoredDelivery?> LoadSnapshotAsync(int conversationId, long beforeSequence, CancellationToken cancellationToken) =>
        Task.FromResult<StoredDelivery?>(null);

    public Task<KnownConversation> LoadConversationAsync(int conversationId, DateTimeOffset intentsSince, CancellationToken cancellationToken) =>
        Task.FromResult(_states.GetValueOrDefault(conversationId) ?? KnownConversation.Unknown(conversationId));

    public async Task CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken)
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

            Commits.Add(commit);
        }

        if (commit.NextState is { } next)
        {
            _states[commit.ConversationId] = new KnownConversation(commit.ConversationId, new Facts.PriorState(next.ConversationId, next.Status, next.UpdatedAt), []);
        }
    }

    public Task RecordFailureAsync(DeliveryFailure failure, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Failures.Add(failure);
        }

        return Task.CompletedTask;
    }

    public Task<bool> RequeueAsync(long deliveryId, CancellationToken cancellationToken) => Task.FromResult(false);
}
