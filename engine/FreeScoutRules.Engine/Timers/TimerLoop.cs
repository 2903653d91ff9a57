using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Timers;

/// <summary>
/// Fires timers when they fall due. Reads the soonest pending timers from storage by due time (never all
/// of them: a million pending timers stay on disk), fires each in one transaction (the timer marked fired,
/// its firing stored as its conversation's next delivery, behind every delivery stored before it:
/// <see cref="ITimers.FireAsync"/>, which refuses a firing someone else did first, so each fires once whoever
/// runs this loop). Then sleeps until the next due time, or until a commit schedules an earlier one
/// (<see cref="TimerSignal"/>). After downtime the overdue timers fire first, in due order, with their lateness.
/// Runs supervised; keeps no state of its own, so a restart is exact. Fires the next batch only once the store's
/// backlog of pending deliveries is down to a batch, so that a million overdue timers do not bury the webhooks
/// that arrive meanwhile.
/// </summary>
internal sealed partial class TimerLoop(
    ITimers timers, IDeliveryHistory deliveries, TimerSignal signal, EngineMetrics metrics, TimeProvider time, ILogger<TimerLoop> logger)
{
    /// <summary>Timers read and fired at once (group-committed together). Default 500.</summary>
    public int Batch { get; init; } = 500;

    /// <summary>The longest sleep of one process alone on its store: 1 min.</summary>
    public static readonly TimeSpan DefaultMaxSleep = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Longest sleep, whatever the next due time: a safety net against a clock that jumps and, on a store several processes
    /// share, how soon a timer another instance scheduled is seen here (its commit signalled only its own loop). Default
    /// <see cref="DefaultMaxSleep"/>.
    /// </summary>
    public TimeSpan MaxSleep { get; init; } = DefaultMaxSleep;

    /// <summary>Waits while the backlog of pending deliveries is above a batch. Default 20 ms (each look counts the pending entries of an index: cheap while the backlog is a batch or two).</summary>
    public TimeSpan BacklogPause { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Waits after a storage error before reading again. Default 1 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            signal.Arm();
            DateTimeOffset wakeAt;
            try
            {
                // Fire no faster than their rules run: a million overdue timers at start would otherwise stand
                // in front of every webhook that arrives meanwhile.
                if (await deliveries.CountAsync(DeliveryOutcome.Pending, cancellationToken) > Batch)
                {
                    await Task.Delay(BacklogPause, time, cancellationToken);
                    continue;
                }

                var now = time.GetUtcNow();
                var due = await timers.ListAsync(new TimerFilter(DueBefore: now.AddTicks(TimeSpan.TicksPerMillisecond), Limit: Batch), cancellationToken);
                if (due.Count > 0)
                {
                    await FireAsync(due, now, cancellationToken);
                    continue;
                }

                var next = await timers.ListAsync(new TimerFilter(Limit: 1), cancellationToken);
                wakeAt = next.Count > 0 && next[0].DueAt - now < MaxSleep ? next[0].DueAt : now + MaxSleep;
            }
            catch (StorageException ex)
            {
                metrics.StorageFailed("timers");
                LogStorageFailed(logger, ex);
                wakeAt = time.GetUtcNow() + RetryDelay;
            }

            await signal.SleepAsync(wakeAt, time, cancellationToken);
        }
    }

    private async Task FireAsync(IReadOnlyList<StoredTimer> due, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var fired = await Task.WhenAll(due.Select(timer =>
            timers.FireAsync(new TimerFiring(timer.ConversationId, timer.Name, timer.Number, timer.DueAt, now, timer.Rule), cancellationToken)));
        for (var i = 0; i < fired.Length; i++)
        {
            if (fired[i] is not null)
            {
                metrics.TimerFired();
            }
        }

        var late = due.Where(t => now - t.DueAt > TimeSpan.FromMinutes(1)).ToList();
        if (late.Count > 0)
        {
            LogFiredLate(logger, late.Count, now - late[0].DueAt);
        }

        LogFired(logger, fired.Count(f => f is not null), due.Count);
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Debug, Message = "Fired {Fired} of {Due} due timers")]
    private static partial void LogFired(ILogger logger, int fired, int due);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning, Message = "{Count} timers fired more than a minute late (the latest by {Lateness}): the server was down or busy; rules see each one's lateness")]
    private static partial void LogFiredLate(ILogger logger, int count, TimeSpan lateness);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Error, Message = "Storage failed while firing timers; trying again shortly (nothing fires twice: each firing is one transaction)")]
    private static partial void LogStorageFailed(ILogger logger, Exception exception);
}
