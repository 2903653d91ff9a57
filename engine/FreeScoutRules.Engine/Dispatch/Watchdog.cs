using System.Collections.Concurrent;
using FreeScoutRules.Engine.Rules;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Watches evaluations in progress: one that stays in the rules longer than
/// <see cref="DispatchOptions.RuleTimeout"/> is logged once and listed by <see cref="Stuck"/> (shown by
/// <c>/readyz</c>), naming the rule it is in, and abandoned (<see cref="Evaluation.Stuck"/>): its delivery is parked
/// and its conversation goes on. A rule cannot be stopped from outside: its worker stays busy until it returns, and
/// <c>/readyz</c> names it meanwhile. Thread-safe.
/// </summary>
internal sealed partial class Watchdog(TimeSpan ruleTimeout, TimeProvider time, ILogger<Watchdog> logger)
{
    private readonly ConcurrentDictionary<long, Evaluation> _inFlight = new();

    /// <summary>Evaluations in the rules longer than the timeout, described for people.</summary>
    public IReadOnlyList<string> Stuck =>
        [.. _inFlight.Values.Where(f => f.Reported).Select(f => f.Describe(time.GetUtcNow()))];

    /// <summary>Registers an evaluation of <paramref name="delivery"/>; dispose the result when it returns.</summary>
    public Evaluation Begin(QueuedDelivery delivery)
    {
        var evaluation = new Evaluation(this, delivery, time.GetUtcNow());
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
    internal sealed class Evaluation(Watchdog watchdog, QueuedDelivery delivery, DateTimeOffset started) : IDisposable
    {
        public RuleProbe Probe { get; } = new();

        public DateTimeOffset Started { get; } = started;

        public volatile bool Reported;

        private readonly TaskCompletionSource _stuck = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the watchdog finds the evaluation past the timeout: its delivery is then abandoned (parked).</summary>
        public Task Stuck => _stuck.Task;

        internal void Abandon() => _stuck.TrySetResult();

        public string Describe(DateTimeOffset now) =>
            $"delivery {delivery.Id} ({delivery.Event}) of conversation {delivery.ConversationId} has been in rule '{Probe.Current ?? "(none yet)"}' for {(now - Started).TotalSeconds:F0} s";

        public void Dispose() => watchdog._inFlight.TryRemove(delivery.Id, out _);
    }

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Watchdog: {Description}; the delivery is parked and its conversation goes on (the rule's worker stays busy until it returns)")]
    private static partial void LogStuck(ILogger logger, string description);
}
