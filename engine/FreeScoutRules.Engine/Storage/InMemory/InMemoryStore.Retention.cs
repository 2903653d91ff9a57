namespace FreeScoutRules.Engine.Storage.InMemory;

/// <summary>Retention (<see cref="IRetentionStore"/>), reconciliation's watermark and known states, the rule generation log.</summary>
internal sealed partial class InMemoryStore
{
    private readonly List<RuleGenerationRecord> _generations = [];
    private DateTimeOffset? _watermark;

    public Task<(int Pruned, RetentionCursor? Last)> PruneBodiesAsync(RetentionCursor? after, DateTimeOffset before, int batch, CancellationToken cancellationToken) =>
        Write<(int, RetentionCursor?)>(() =>
        {
            // A first pass starts just before the oldest body still held (a minute earlier, as receipt times and ids may disagree).
            after ??= _deliveries.Values.FirstOrDefault(d => d.Body is not null) is { } oldest
                ? new RetentionCursor(oldest.ReceivedAt - TimeSpan.FromMinutes(1), 0)
                : null;
            if (after is null)
            {
                return (0, null);
            }

            var candidates = Processed(after, before, batch, withoutIntentsNotDone: false);
            if (candidates.Count == 0)
            {
                return (0, null);
            }

            var pruned = 0;
            foreach (var delivery in candidates)
            {
                // Kept while a re-run may still need it: a rule failed on it, or one of its intents is pending or dead.
                if (delivery.Body is not null && delivery.RuleFailures == 0 && !HasIntentNotDone(delivery.Id))
                {
                    delivery.Body = null;
                    delivery.Parsed = null;
                    pruned++;
                }
            }

            return (pruned, new RetentionCursor(candidates[^1].ReceivedAt, candidates[^1].Id));
        }, null, cancellationToken);

    public Task<int> PruneRecordsAsync(DateTimeOffset before, int batch, CancellationToken cancellationToken) =>
        Write(() =>
        {
            var pruned = 0;
            foreach (var delivery in Processed(null, before, batch, withoutIntentsNotDone: true))
            {
                // The newest delivery and intent stay, as in every store: ids are never handed out again.
                var newestIntent = _intents.Count == 0 ? 0 : _intents.Keys.Max();
                if (delivery.Id == _deliveries.Keys.Max() || IntentsOf(delivery.Id).Any(i => i.State != IntentState.Done || i.Id == newestIntent))
                {
                    continue;
                }

                Delete(delivery);
                pruned++;
            }

            return pruned;
        }, null, cancellationToken);

    public Task<DateTimeOffset?> LoadWatermarkAsync(CancellationToken cancellationToken) => Read(() => _watermark, cancellationToken);

    public Task AdvanceWatermarkAsync(DateTimeOffset watermark, DateTimeOffset at, NamedLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return Write(() =>
        {
            LeaseFence(lease); // before anything is written
            if (_watermark is { } current && watermark <= current)
            {
                return false; // never back
            }

            _watermark = watermark;
            return true;
        }, null, cancellationToken);
    }

    public Task<IReadOnlyDictionary<int, DateTimeOffset>> KnownUpdatedAtAsync(IReadOnlyCollection<int> conversationIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(conversationIds);
        return Read<IReadOnlyDictionary<int, DateTimeOffset>>(() =>
        {
            var known = new Dictionary<int, DateTimeOffset>(conversationIds.Count);
            foreach (var id in conversationIds)
            {
                if (_conversations.TryGetValue(id, out var conversation) && conversation is { Status: not null, UpdatedAt: { } updatedAt })
                {
                    known[id] = updatedAt;
                }
            }

            return known;
        }, cancellationToken);
    }

    public Task RecordAsync(string contentHash, DateTimeOffset at, bool loaded, int rules, string? diagnostics, CancellationToken cancellationToken) =>
        Write(() =>
        {
            _generations.Add(new RuleGenerationRecord(contentHash, at, loaded, rules, diagnostics));
            return true;
        }, null, cancellationToken);

    public Task<IReadOnlyList<RuleGenerationRecord>> ListGenerationsAsync(int limit, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<RuleGenerationRecord>>(() => [.. Enumerable.Reverse(_generations).Take(limit)], cancellationToken);

    /// <summary>
    /// Processed deliveries (done or skipped) received before <paramref name="before"/>, after <paramref name="after"/>, in
    /// receipt order (ties by id), at most <paramref name="limit"/>; with <paramref name="withoutIntentsNotDone"/>, only those
    /// whose intents are all done. Under the lock.
    /// </summary>
    private List<DeliveryRow> Processed(RetentionCursor? after, DateTimeOffset before, int limit, bool withoutIntentsNotDone)
    {
        var from = after?.ReceivedAt ?? DateTimeOffset.UnixEpoch;
        var fromId = after?.Id ?? 0;
        return
        [
            .. _deliveries.Values
                .Where(d => d.ReceivedAt >= from && (d.ReceivedAt > from || d.Id > fromId) && d.ReceivedAt < before
                    && d.Outcome is DeliveryOutcome.Done or DeliveryOutcome.Skipped
                    && (!withoutIntentsNotDone || !HasIntentNotDone(d.Id)))
                .OrderBy(d => d.ReceivedAt).ThenBy(d => d.Id)
                .Take(limit),
        ];
    }

    private bool HasIntentNotDone(long deliveryId) => IntentsOf(deliveryId).Any(i => i.State != IntentState.Done);

    private IEnumerable<IntentRow> IntentsOf(long deliveryId) => _intents.Values.Where(i => i.DeliveryId == deliveryId);

    /// <summary>A delivery with everything that hangs on it: its body, status changes, intents and their attempts.</summary>
    private void Delete(DeliveryRow delivery)
    {
        foreach (var intent in IntentsOf(delivery.Id).ToList())
        {
            _intents.Remove(intent.Id);
            _intentsByConversation[intent.ConversationId].Remove(intent);
        }

        _statusChanges.RemoveAll(c => c.DeliveryId == delivery.Id);
        _deliveries.Remove(delivery.Id);
        _dedupe.Remove(delivery.DedupeKey);
        if (delivery.ConversationId is { } conversation)
        {
            _byConversation[conversation].Remove(delivery);
        }
    }
}
