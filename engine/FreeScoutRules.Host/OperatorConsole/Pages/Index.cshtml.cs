using FreeScoutRules.Engine.Reconciliation;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace FreeScoutRules.Host.OperatorConsole.Pages;

/// <summary>The overview: what is waiting, what failed, the rules in force, the reconciler, and who holds what, at a glance.</summary>
internal sealed class OverviewModel(
    IDeliveryHistory deliveries, IOutbox outbox, ITimers timers, RuleSetHolder rules, Reconciler reconciler, RulesReloader reloader, TimeProvider time,
    Engine.Instances.NamedLeases leases, Engine.Instances.InstanceLeaseKeeper instance) : PageModel
{
    public long Done { get; private set; }

    public long Parked { get; private set; }

    public long QueueDepth { get; private set; }

    internal OutboxStats Outbox { get; private set; } = new(0, 0, null);

    public long TimersPending { get; private set; }

    internal IReadOnlyList<BarChart> Charts { get; private set; } = [];

    /// <summary>Rule failures per rule, last 24 hours.</summary>
    internal RuleFailureSummary RuleFailures { get; private set; } = new([], false);

    /// <summary>The most deliveries with a failure read for <see cref="RuleFailures"/> (a page answers fast with months of them).</summary>
    internal const int RuleFailureScan = 10_000;

    internal RuleSetGeneration? Generation => rules.IsLoaded ? rules.Current : null;

    internal ReconcilerStatus Reconciliation => reconciler.Status;

    /// <summary>The instances alive and the named leases with their holders (<c>/api/status</c> has the gone instances too).</summary>
    internal Engine.Instances.LeasesOverview Holders { get; private set; } = new([], [], null);

    /// <summary>The latest change of the rules folder, when it did not compile (the generation before it runs on).</summary>
    internal ReloadReport? RefusedChange => reloader.LastFailure is { } failure && failure.At > reloader.LoadedAt ? failure : null;

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Done = await deliveries.CountAsync(DeliveryOutcome.Done, cancellationToken);
        Parked = await deliveries.CountAsync(DeliveryOutcome.Parked, cancellationToken);
        QueueDepth = await deliveries.CountAsync(DeliveryOutcome.Pending, cancellationToken);
        Outbox = await outbox.StatsAsync(cancellationToken);
        TimersPending = await timers.CountPendingAsync(cancellationToken);
        Holders = await leases.OverviewAsync(TimeSpan.Zero, instance.Joined?.Id, cancellationToken);
        var now = time.GetUtcNow();
        RuleFailures = await deliveries.RuleFailuresAsync(now.AddHours(-24), RuleFailureScan, cancellationToken);
        var activity = await deliveries.ActivityAsync(now.AddMinutes(-59).AddSeconds(-now.Second), now.AddHours(-23).AddMinutes(-now.Minute).AddSeconds(-now.Second), cancellationToken);
        Charts =
        [
            BarChart.Of("Deliveries per minute, last hour", activity.DeliveriesPerMinute, now, TimeSpan.FromMinutes(1), 60, "HH:mm"),
            BarChart.Of("Status changes per hour (when FreeScout says they happened), last day", activity.StatusChangesPerHour, now, TimeSpan.FromHours(1), 24, "MM-dd HH:00"),
        ];
    }
}
