namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// The pending deliveries a claim read with it (<see cref="PostgresStorage.ClaimAsync"/>: the first few of each
/// conversation it newly claimed, in the claim's round trip), kept for the lane's first
/// <see cref="PostgresStorage.LoadPendingAsync"/> of that claim, which then needs no round trip of its own. An entry
/// serves only the claim it was read under (its instance and epoch), only once, and only before any write under the claim
/// (each forgets it); what was stored after the claim is
/// the lane's next read (the work's hint marks the lane, and no claim is released while its conversation has pending
/// deliveries). Bounded: a claim the dispatcher set aside (asked again) leaves its entry, and past the capacity the
/// entries start over. Thread-safe.
/// </summary>
internal sealed class PrefetchedWork
{
    /// <summary>The pending deliveries read per newly claimed conversation, at most.</summary>
    public const int PerClaim = 4;

    private const int Capacity = 4_096;
    private readonly Lock _gate = new();
    private Dictionary<int, (long InstanceId, long Epoch, IReadOnlyList<StoredDelivery> Pending)> _work = [];

    /// <summary>Keeps what <paramref name="claim"/> read: every pending delivery of its conversation, or the first <see cref="PerClaim"/>.</summary>
    public void Keep(ConversationClaim claim, IReadOnlyList<StoredDelivery> pending)
    {
        lock (_gate)
        {
            if (_work.Count >= Capacity)
            {
                _work = []; // crude but O(1): those claims' lanes read their work themselves
            }

            _work[claim.ConversationId] = (claim.InstanceId, claim.Epoch, pending);
        }
    }

    /// <summary>Forgets what was read for the conversation: a write under its claim (or a delivery put back in line) makes it stale.</summary>
    public void Forget(int conversationId)
    {
        lock (_gate)
        {
            _work.Remove(conversationId);
        }
    }

    /// <summary>
    /// The first <paramref name="limit"/> pending deliveries <paramref name="claim"/> read, forgotten here; <c>null</c> when it
    /// read none, was read under another claim, or may not hold as many as asked (it read <see cref="PerClaim"/>, the most it reads).
    /// </summary>
    public IReadOnlyList<StoredDelivery>? Take(ConversationClaim claim, int limit)
    {
        lock (_gate)
        {
            if (!_work.Remove(claim.ConversationId, out var kept) || kept.InstanceId != claim.InstanceId || kept.Epoch != claim.Epoch)
            {
                return null;
            }

            return kept.Pending.Count < PerClaim || limit <= kept.Pending.Count ? [.. kept.Pending.Take(limit)] : null;
        }
    }
}
