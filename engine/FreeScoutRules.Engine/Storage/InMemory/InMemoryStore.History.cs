namespace FreeScoutRules.Engine.Storage.InMemory;

/// <summary>The read-only views of stored deliveries (<see cref="IDeliveryHistory"/>).</summary>
internal sealed partial class InMemoryStore
{
    public Task<DeliveryRecord?> GetAsync(long deliveryId, CancellationToken cancellationToken) =>
        Read(() => _deliveries.TryGetValue(deliveryId, out var row) ? row.ToRecord() : null, cancellationToken);

    public Task<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return Read<IReadOnlyList<DeliveryRecord>>(() =>
        [
            .. _deliveries.Values.Reverse()
                .Where(d => (filter.ConversationId is null || d.ConversationId == filter.ConversationId)
                    && (filter.RuleFailed is not { } failed || (d.RuleFailures > 0) == failed)
                    && (filter.Outcome is null || d.Outcome == filter.Outcome)
                    && (filter.Since is null || d.ReceivedAt >= filter.Since)
                    && (filter.Until is null || d.ReceivedAt < filter.Until)
                    && (filter.Event is null || d.Event == filter.Event)
                    && (filter.BeforeId is null || d.Id < filter.BeforeId))
                .Skip((filter.Page - 1) * filter.PageSize)
                .Take(filter.PageSize)
                .Select(d => d.ToRecord()),
        ], cancellationToken);
    }

    public Task<IReadOnlyDictionary<string, long>> CountByOutcomeAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyDictionary<string, long>>(
            () => _deliveries.Values.GroupBy(d => d.Outcome, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal),
            cancellationToken);

    public Task<byte[]?> GetBodyAsync(long deliveryId, CancellationToken cancellationToken) =>
        Read(() => _deliveries.TryGetValue(deliveryId, out var row) ? row.Body : null, cancellationToken);

    public Task<IReadOnlyList<ConversationMatch>> FindConversationsAsync(int idOrNumber, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<ConversationMatch>>(() =>
        {
            var matches = new List<ConversationMatch>();
            if (_byConversation.TryGetValue(idOrNumber, out var deliveries) && deliveries.Count > 0)
            {
                matches.Add(new ConversationMatch(idOrNumber, ByNumber: false));
            }

            if (_statusChanges.FirstOrDefault(c => c.Number == idOrNumber) is { } change)
            {
                matches.Add(new ConversationMatch(change.ConversationId, ByNumber: true));
            }

            // The same conversation found both ways (its id is its number) is one match.
            return matches.Count == 2 && matches[0].ConversationId == matches[1].ConversationId ? [matches[1]] : matches;
        }, cancellationToken);

    public Task<Activity> ActivityAsync(DateTimeOffset deliveriesSince, DateTimeOffset changesSince, CancellationToken cancellationToken) =>
        Read(() => new Activity(
            Buckets(_deliveries.Values.Select(d => d.ReceivedAt), deliveriesSince, 60_000),
            Buckets(_statusChanges.Select(c => c.At), changesSince, 3_600_000)), cancellationToken);

    public Task<RuleFailureSummary> RuleFailuresAsync(DateTimeOffset since, int scan, CancellationToken cancellationToken) =>
        Read(() =>
        {
            // From the first delivery received since then on (as SQLite reads its receipt index), newest first, at most scan of them.
            var from = _deliveries.Values.Where(d => d.ReceivedAt >= since).OrderBy(d => d.ReceivedAt).ThenBy(d => d.Id).FirstOrDefault()?.Id ?? long.MaxValue;
            var failed = _deliveries.Values.Reverse().Where(d => d.RuleFailures > 0 && d.Id >= from).Take(scan + 1).ToList();
            var rules = failed.Take(scan)
                .SelectMany(d => (d.Result?.RuleFailures ?? []).Select(f => (Rule: f.Rule ?? "(unnamed)", d.ReceivedAt, d.Id)))
                .GroupBy(f => f.Rule, StringComparer.Ordinal)
                .Select(g => new RuleFailureCount(g.Key, g.Count(), g.Max(f => f.ReceivedAt), g.Max(f => f.Id)))
                .OrderByDescending(r => r.Count).ThenBy(r => r.Rule, StringComparer.Ordinal)
                .ToList();
            return new RuleFailureSummary(rules, failed.Count > scan);
        }, cancellationToken);

    public Task<long> CountAsync(string outcome, CancellationToken cancellationToken) =>
        Read(() => (long)_deliveries.Values.Count(d => d.Outcome == outcome), cancellationToken);

    public Task<IReadOnlyList<StoredDelivery>> LoadHistoryAsync(int? conversationId, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<StoredDelivery>>(() => conversationId is { } one
            ? _byConversation.TryGetValue(one, out var deliveries) ? [.. deliveries.Select(ToStored)] : []
            : [.. _byConversation.OrderBy(c => c.Key).SelectMany(c => c.Value).Select(ToStored)],
            cancellationToken);

    private static List<(DateTimeOffset Start, long Count)> Buckets(IEnumerable<DateTimeOffset> times, DateTimeOffset since, long width) =>
    [
        .. times.Where(t => t >= since)
            .GroupBy(t => t.ToUnixTimeMilliseconds() / width)
            .OrderBy(g => g.Key)
            .Select(g => (DateTimeOffset.FromUnixTimeMilliseconds(g.Key * width), (long)g.Count())),
    ];
}
