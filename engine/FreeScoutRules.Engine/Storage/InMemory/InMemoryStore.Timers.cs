using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Storage.InMemory;

/// <summary>The timer table: one row per conversation and name, as SQLite's <c>timers</c>.</summary>
internal sealed partial class InMemoryStore
{
    private readonly Dictionary<(int ConversationId, string Name), TimerRow> _timers = [];

    public Task<IReadOnlyList<StoredTimer>> ListAsync(TimerFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return Read<IReadOnlyList<StoredTimer>>(() =>
        [
            .. _timers.Values
                .Where(t => (filter.State is null || t.State == filter.State) && (filter.ConversationId is null || t.ConversationId == filter.ConversationId)
                    && (filter.DueBefore is null || t.DueAt < filter.DueBefore))
                .OrderBy(t => t.DueAt).ThenBy(t => t.ConversationId).ThenBy(t => t.Name, StringComparer.Ordinal)
                .Take(filter.Limit)
                .Select(t => new StoredTimer(t.ConversationId, t.Name, t.Number, t.DueAt, t.State, t.Rule, t.DeliveryId, t.SetAt, t.FiredAt)),
        ], cancellationToken);
    }

    /// <summary>
    /// Marks the scheduling fired and stores its firing as the conversation's next delivery, together; nothing, and
    /// <c>null</c>, when that scheduling is not pending (fired already, scheduled again, cancelled).
    /// </summary>
    public Task<StoreResult?> FireAsync(TimerFiring firing, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(firing);
        var body = firing.ToJson();
        return Write(() =>
        {
            if (!_timers.TryGetValue((firing.ConversationId, firing.Name), out var timer) || timer.Number != firing.Number || timer.State != TimerState.Pending)
            {
                return null;
            }

            timer.State = TimerState.Fired;
            timer.FiredAt = firing.FiredAt;
            return Store(new NewDelivery(TimerFiring.Event, ReadOnlyMemory<byte>.Empty, firing.DedupeKey(), firing.ConversationId, firing.FiredAt), body);
        }, stored =>
        {
            if (stored is not null)
            {
                Announce(stored, firing.ConversationId, null);
            }
        }, cancellationToken);
    }

    public Task<long> CountPendingAsync(CancellationToken cancellationToken) =>
        Read(() => (long)_timers.Values.Count(t => t.State == TimerState.Pending), cancellationToken);

    /// <summary>
    /// A commit's timer change, under the lock: a scheduling replaces the pending timer of its name (or a fired or cancelled
    /// one) and counts its number; a cancel ends the pending one, and changes nothing when none is pending.
    /// </summary>
    private void ChangeTimer(TimerChange change, long deliveryId, DateTimeOffset at)
    {
        var key = (change.ConversationId, change.Name);
        _timers.TryGetValue(key, out var timer);
        if (change.DueAt is { } due)
        {
            _timers[key] = new TimerRow
            {
                ConversationId = change.ConversationId,
                Name = change.Name,
                Number = (timer?.Number ?? 0) + 1,
                DueAt = due,
                State = TimerState.Pending,
                Rule = change.Rule,
                DeliveryId = deliveryId,
                SetAt = at,
            };
        }
        else if (timer is { State: TimerState.Pending })
        {
            timer.State = TimerState.Cancelled;
            timer.Rule = change.Rule;
            timer.DeliveryId = deliveryId;
            timer.SetAt = at;
        }
    }

    private sealed class TimerRow
    {
        public required int ConversationId { get; init; }

        public required string Name { get; init; }

        /// <summary>How many times the name was scheduled for the conversation (1 the first time).</summary>
        public required int Number { get; init; }

        public required DateTimeOffset DueAt { get; init; }

        public required string State { get; set; }

        public required string Rule { get; set; }

        /// <summary>The delivery whose evaluation scheduled or cancelled it.</summary>
        public long? DeliveryId { get; set; }

        public DateTimeOffset SetAt { get; set; }

        public DateTimeOffset? FiredAt { get; set; }
    }
}
