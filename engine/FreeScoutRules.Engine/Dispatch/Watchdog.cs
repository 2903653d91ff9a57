using System.Collections.Concurrent;
using FreeScoutRules.Engine.Rules;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Watches evaluations in progress: one that stays in the rules longer than
/// <see cref="DispatchOptions.RuleTimeout"/> is logged once and listed by <see cref="Stuck"/> (shown by
/// <c>/readyz</c>), naming the rule it is in, and abandoned (the callback given to <see cref="Begin"/>): its delivery is
/// parked and its conversation goes on. A rule cannot be stopped from outside: its thread and worker stay busy until it
/// returns, and <c>/readyz</c> names it meanwhile. Thread-safe.
/// </summary>
internal sealed partial class Watchdog(TimeSpan ruleTimeout, TimeProvider time, ILogger<Watchdog> logger)
{
    private readonly ConcurrentDictionary<long, Evaluation> _inFlight = new();

    /// <summary>Evaluations in the rules longer than the timeout, described for people.</summary>
    public IReadOnlyList<string> Stuck =>
        [.. _inFlight.Values.Where(f => f.Reported).Select(f => f.Describe(time.GetUtcNow()))];

    /// <summary>
    /// Registers an evaluation of <paramref name="delivery"/>, to run on the caller's thread; call
    /// <see cref="Evaluation.Finish"/> when it returns. <paramref name="abandoned"/> is called (on the watchdog's thread,
    /// quickly, never both) if the watchdog abandons it first.
    /// </summary>
    public Evaluation Begin(QueuedDelivery delivery, Action<Evaluation> abandoned)
    {
        var evaluation = new Evaluation(this, delivery, time.GetUtcNow(), abandoned);
        _inFlight[delivery.Id] = evaluation;
        return evaluation;
    }

    /// <summary>Checks the evaluations in progress every fifth of the timeout (at least every 50 ms) until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, ruleTimeout.Ticks / 5));
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                Check();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Reports every evaluation past the timeout that is not reported yet.</summary>
    internal void Check()
    {
        var now = time.GetUtcNow();
        foreach (var evaluation in _inFlight.Values.Where(f => !f.Reported && now - f.Started > ruleTimeout))
        {
            evaluation.Reported = true;
            LogStuck(logger, evaluation.Describe(now));
            evaluation.Abandon();
        }
    }

    /// <summary>An evaluation in progress; its probe tells which rule runs.</summary>
    /// <remarks>
    /// Whichever comes first, its return (<see cref="Finish"/>) or its abandonment by the watchdog, decides what becomes
    /// of its delivery: one compare-and-swap, so never both.
    /// </remarks>
    internal sealed class Evaluation(Watchdog watchdog, QueuedDelivery delivery, DateTimeOffset started, Action<Evaluation> abandoned)
    {
        private const int Running = 0, Returned = 1, Abandoned = 2;
        private int _state;

        public RuleProbe Probe { get; } = new();

        public DateTimeOffset Started { get; } = started;

        public QueuedDelivery Delivery { get; } = delivery;

        public volatile bool Reported;

        /// <summary>The watchdog's: abandons it unless it returned already; the callback runs when it does.</summary>
        internal void Abandon()
        {
            if (Interlocked.CompareExchange(ref _state, Abandoned, Running) == Running)
            {
                abandoned(this);
            }
        }

        /// <summary>The evaluation returned: true when its result is the caller's to commit, false when the watchdog abandoned it first.</summary>
        public bool Finish()
        {
            watchdog._inFlight.TryRemove(Delivery.Id, out _);
            return Interlocked.CompareExchange(ref _state, Returned, Running) == Running;
        }

        public string Describe(DateTimeOffset now) =>
            $"delivery {Delivery.Id} ({Delivery.Event}) of conversation {Delivery.ConversationId} has been in rule '{Probe.Current ?? "(none yet)"}' for {(now - Started).TotalSeconds:F0} s";
    }

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Watchdog: {Description}; the delivery is parked and its conversation goes on (the rule's worker stays busy until it returns)")]
    private static partial void LogStuck(ILogger logger, string description);
}
