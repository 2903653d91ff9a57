using FreeScoutRules.Engine.Storage;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Telemetry;

/// <summary>
/// Gauges of what waits in storage: the backlog of pending deliveries, parked deliveries, intents pending and dead, the age
/// of the oldest pending intent, and the timers pending. Sampled every <see cref="Interval"/> by a supervised loop (a scrape never
/// waits for the database); until the first sample they read 0. Thread-safe.
/// <para>
/// Not singleton work, unlike reconciliation and retention (docs/design.md, "Claims and fences"): every instance samples the
/// store-wide values for its own <c>/metrics</c>, so that any instance scraped answers with them. The samples are reads (no
/// write to fence, no outside budget to share), each an index count over the rare rows (pending, parked, pending intents;
/// pending timers every sixth sample); one holder sampling for all would have to write its sample into the store for the
/// others to read, a write every interval to save a few reads.
/// </para>
/// </summary>
internal sealed partial class StorageGauges(
    IOutbox outbox, IDeliveryHistory history, EngineMetrics metrics, TimeProvider time, ILogger<StorageGauges> logger, ITimers? timers = null)
{
    /// <summary>Pending timers are counted every this many samples: a count over a million of them takes tens of milliseconds.</summary>
    private const int TimerSampleEvery = 6;

    private Sample _last = new(0, 0, 0, null, 0);
    private long _pendingTimers;
    private int _samples;

    /// <summary>How often storage is sampled. Default 5 s.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Registers the gauges with the engine's meter.</summary>
    public void Register()
    {
        metrics.ObserveGauge("freescout_rules.dispatch.queue_depth", "Deliveries stored and not yet processed (the store's backlog, every instance's).", () => Volatile.Read(ref _last).Backlog);
        metrics.ObserveGauge("freescout_rules.deliveries.parked", "Deliveries parked (their status rules failed every attempt): re-run them once fixed.", () => Volatile.Read(ref _last).Parked);
        metrics.ObserveGauge("freescout_rules.actions.pending", "Action intents waiting for their next attempt.", () => Volatile.Read(ref _last).Pending);
        metrics.ObserveGauge("freescout_rules.actions.dead", "Action intents dead-lettered: failed permanently or ran out of attempts.", () => Volatile.Read(ref _last).Dead);
        metrics.ObserveGauge("freescout_rules.actions.oldest_pending_age", "Seconds the oldest pending action intent has waited since it was queued or last retried by hand (0 when none).", () =>
            Volatile.Read(ref _last).OldestPending is { } oldest ? Math.Max(0, (long)(time.GetUtcNow() - oldest).TotalSeconds) : 0, "s");
        metrics.ObserveGauge("freescout_rules.timers.pending", "Timers scheduled and not yet due, fired or cancelled (sampled every 30 s).", () => Interlocked.Read(ref _pendingTimers), "{timer}");
    }

    /// <summary>Samples storage now and every <see cref="Interval"/> until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await SampleAsync(cancellationToken);
            await Task.Delay(Interval, time, cancellationToken);
        }
    }

    internal async Task SampleAsync(CancellationToken cancellationToken)
    {
        try
        {
            var stats = await outbox.StatsAsync(cancellationToken);
            var parked = await history.CountAsync(DeliveryOutcome.Parked, cancellationToken);
            var backlog = await history.CountAsync(DeliveryOutcome.Pending, cancellationToken);
            Volatile.Write(ref _last, new Sample(parked, stats.Pending, stats.Dead, stats.OldestPending, backlog));
            if (timers is not null && _samples++ % TimerSampleEvery == 0)
            {
                Interlocked.Exchange(ref _pendingTimers, await timers.CountPendingAsync(cancellationToken));
            }
        }
        catch (StorageException ex)
        {
            metrics.StorageFailed("gauges");
            LogSampleFailed(logger, ex);
        }
    }

    private sealed record Sample(long Parked, long Pending, long Dead, DateTimeOffset? OldestPending, long Backlog);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Storage could not be sampled for the metrics; the gauges show the last sample")]
    private static partial void LogSampleFailed(ILogger logger, Exception exception);
}
