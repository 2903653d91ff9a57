using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>What asking for a re-run of a delivery came to.</summary>
internal enum RerunOutcome
{
    /// <summary>Back in its conversation's line; it runs with the rules now in force.</summary>
    Requeued,

    /// <summary>No such conversation delivery.</summary>
    NotFound,

    /// <summary>It is pending, skipped, or done without a rule failure: there is nothing to run again.</summary>
    NothingToRerun,
}

/// <summary>
/// Re-runs: real work put back in line (unlike <c>replay</c>, a dry run against history). A parked
/// delivery (its status rules failed) runs again in full against its conversation's known state; a
/// done delivery on which some rules failed runs again, and only those rules' intents are queued (the
/// others' were queued the first time, and its status changes were committed). Thread-safe.
/// </summary>
internal sealed class Reruns(IInbox inbox, IDeliveryHistory history)
{
    public async Task<(RerunOutcome Outcome, string Reason)> RerunAsync(long deliveryId, CancellationToken cancellationToken)
    {
        if (await inbox.GetStoredAsync(deliveryId, cancellationToken) is not { } stored)
        {
            return (RerunOutcome.NotFound, $"No conversation delivery {deliveryId}.");
        }

        if (stored.Body is null)
        {
            return (RerunOutcome.NothingToRerun, $"Delivery {deliveryId} has no body any more (pruned after Retention:Bodies): it cannot run again.");
        }

        var rerunnable = stored.Outcome == DeliveryOutcome.Parked
            || (stored.Outcome == DeliveryOutcome.Done && stored.Result?.RuleFailures is { Count: > 0 });
        if (!rerunnable || !await inbox.RequeueAsync(deliveryId, cancellationToken))
        {
            return (RerunOutcome.NothingToRerun,
                $"Delivery {deliveryId} is {stored.Outcome}{(stored.Outcome == DeliveryOutcome.Done ? " and no rule failed on it" : "")}: only parked deliveries, and done ones on which a rule failed, are re-run.");
        }

        // Pending again, with fresh attempts: the store announces it, and its conversation's lane runs it in sequence order.
        return (RerunOutcome.Requeued, "requeued");
    }

    /// <summary>Re-runs every parked delivery, oldest first; returns how many were put back in line, and those that could not be, with why.</summary>
    public Task<(int Requeued, IReadOnlyList<(long Id, string Reason)> Skipped)> RerunParkedAsync(CancellationToken cancellationToken) =>
        RerunAllAsync(new DeliveryFilter(Outcome: DeliveryOutcome.Parked, PageSize: 500), cancellationToken);

    /// <summary>Re-runs every done delivery on which a rule failed, oldest first; returns how many were put back in line, and those that could not be, with why.</summary>
    public Task<(int Requeued, IReadOnlyList<(long Id, string Reason)> Skipped)> RerunRuleFailedAsync(CancellationToken cancellationToken) =>
        RerunAllAsync(new DeliveryFilter(Outcome: DeliveryOutcome.Done, PageSize: 500, RuleFailed: true), cancellationToken);

    private async Task<(int Requeued, IReadOnlyList<(long Id, string Reason)> Skipped)> RerunAllAsync(DeliveryFilter filter, CancellationToken cancellationToken)
    {
        // The ids first, then the re-runs: a re-run that fails again must not be picked up again.
        var ids = new List<long>();
        for (var page = 1; ; page++)
        {
            var records = await history.ListAsync(filter with { Page = page }, cancellationToken);
            ids.AddRange(records.Select(r => r.Id));
            if (records.Count < filter.PageSize)
            {
                break;
            }
        }

        var count = 0;
        var skipped = new List<(long, string)>();
        foreach (var id in ids.Order())
        {
            var (outcome, reason) = await RerunAsync(id, cancellationToken);
            if (outcome == RerunOutcome.Requeued)
            {
                count++;
            }
            else
            {
                skipped.Add((id, reason));
            }
        }

        return (count, skipped);
    }
}
