using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Timers;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Takes one queued delivery to its end through the <see cref="EvaluationPipeline"/>: evaluated by at
/// most <see cref="DispatchOptions.Workers"/> at a time under the <see cref="Watchdog"/>, then committed
/// with its done mark. A rule that fails is contained by the pipeline and recorded on the delivery.
/// When the built-in status rules fail (or the evaluation throws), nothing commits: the attempt is
/// recorded, retried after <see cref="DispatchOptions.RetryDelay"/> × 2^n, and parked after
/// <see cref="DispatchOptions.MaxAttempts"/>. Storage errors propagate (nothing was committed), for the
/// dispatcher to try again. Thread-safe; callers process one conversation's deliveries one at a time.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Design", "CA1001", Justification = "The SemaphoreSlim's wait handle is never asked for, so it owns nothing to free; an evaluation abandoned at shutdown (a rule that never returns) may still release it.")]
internal sealed partial class DeliveryProcessor(
    IInbox inbox,
    Func<RuleSetGeneration> rules,
    EvaluationPipeline pipeline,
    Watchdog watchdog,
    DispatchOptions options,
    TimeProvider time,
    EngineMetrics metrics,
    ILogger<DeliveryProcessor> logger,
    TimerSignal? timerSignal = null,
    Actions.IntentDestinations? destinations = null)
{
    private readonly SemaphoreSlim _evaluators = new(Math.Max(1, options.Workers));

    /// <summary>Conversations with an abandoned evaluation still running (a stuck rule), and what it is stuck in.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> _stuck = new();

    /// <summary>Deliveries whose evaluation was abandoned, not parked yet, and why (for the record of their parking).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, string> _abandoned = new();

    /// <summary>Abandoned evaluations still running: each holds a worker (of <see cref="DispatchOptions.Workers"/>) until its rule returns.</summary>
    public int Stuck => _stuck.Count;

    /// <summary>
    /// Processes <paramref name="queued"/> against its conversation's <paramref name="state"/> (read from
    /// storage when <c>null</c>) and returns the state after it, or <c>null</c> when it must be read again.
    /// </summary>
    /// <exception cref="StorageException">Storage failed; nothing of this delivery was committed.</exception>
    /// <exception cref="ClaimLostException">The conversation was taken over; nothing of this delivery was committed.</exception>
    public async Task<KnownConversation?> ProcessAsync(QueuedDelivery queued, KnownConversation? state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queued);
        switch (queued.ToInput())
        {
            case PipelineInput.FreeScoutDelivery { Delivery: var delivery }:
                state ??= await LoadStateAsync(queued, cancellationToken);
                return await RunAsync(
                    queued, state, delivery.ReceivedAt, null,
                    (generation, against, probe) => pipeline.Evaluate(generation, delivery, against, probe, rerunRules: queued.RerunRules),
                    cancellationToken);
            case PipelineInput.TimerFired timer:
                return await ProcessTimerAsync(queued, timer, state, cancellationToken);
            case PipelineInput.Unreadable { Problem: var problem }:
                await ParkAsync(queued, problem, null, cancellationToken);
                return state;
            default:
                throw new InvalidOperationException("A stored delivery is a FreeScout delivery, a timer's firing, or unreadable.");
        }
    }

    /// <summary>
    /// A timer's firing: evaluated with a <see cref="TimerElapsed"/> fact carrying the conversation's known
    /// status and its latest snapshot (read from storage: every delivery before the firing is committed, the
    /// lane saw to it), committed with its done mark like a delivery.
    /// </summary>
    private async Task<KnownConversation?> ProcessTimerAsync(QueuedDelivery queued, PipelineInput.TimerFired timer, KnownConversation? state, CancellationToken cancellationToken)
    {
        state ??= await LoadStateAsync(queued, cancellationToken);
        var snapshot = PipelineInput.SnapshotOf(await inbox.LoadSnapshotAsync(queued.ConversationId, queued.Sequence, cancellationToken));
        return await RunAsync(
            queued, state, timer.Firing.DueAt, timer.Firing,
            (generation, against, probe) => pipeline.Evaluate(generation, timer.ToFact(against.Known?.Status, snapshot), against, probe, rerunRules: queued.RerunRules),
            cancellationToken);
    }

    private Task<KnownConversation> LoadStateAsync(QueuedDelivery queued, CancellationToken cancellationToken) =>
        inbox.LoadConversationAsync(queued.ConversationId, queued.ReceivedAt - pipeline.Settings.RuleActionWindow, cancellationToken);

    /// <summary>
    /// Evaluates (with retries, then parking when the built-in status rules keep failing) and commits. The
    /// clock is the evaluation's: the delivery's receipt, the timer's due time; the evaluate function runs one
    /// evaluation with a generation, against a known state, under the watchdog's probe.
    /// </summary>
    private async Task<KnownConversation?> RunAsync(
        QueuedDelivery queued, KnownConversation state, DateTimeOffset clock, TimerFiring? timer,
        Func<RuleSetGeneration, KnownConversation, RuleProbe, EvaluationResult> evaluate, CancellationToken cancellationToken)
    {
        // A re-run is evaluated against the known state of its first run, so that it derives the same
        // status changes again (and the rules matching them can run); the state itself never moves back.
        var against = queued.EvaluatedAgainst is { } then ? state with { Known = then.ToPriorState(queued.ConversationId) } : state;
        for (var attempt = queued.Attempts + 1; ; attempt++)
        {
            var (result, generation, error, stuck) = await EvaluateAsync(queued, against, evaluate, cancellationToken);
            if (result is { BuiltInFailed: false })
            {
                return await CommitAsync(queued, clock, timer, state, result, generation!, cancellationToken);
            }

            error ??= result!.DescribeFailures();
            var park = stuck || attempt >= options.MaxAttempts; // a stuck rule would be stuck again
            LogAttemptFailed(logger, queued.Id, queued.ConversationId, attempt, park, error);
            if (park)
            {
                await ParkAsync(queued, error, result?.ToRecord(), cancellationToken);
                return state;
            }

            await inbox.RecordFailureAsync(new DeliveryFailure(queued.Id, queued.ConversationId, queued.Sequence, error, false, result?.ToRecord()) { Claim = queued.Claim }, cancellationToken);
            await Task.Delay(options.RetryDelay * Math.Pow(2, attempt - 1), time, cancellationToken);
        }
    }

    /// <summary>
    /// One evaluation, on a worker slot, on the caller's thread, under the watchdog. An evaluation still in the rules after
    /// <see cref="DispatchOptions.RuleTimeout"/> is abandoned (<c>Stuck</c>): a rule cannot be stopped, so its thread and
    /// worker slot stay busy until it returns, but its delivery is parked and its conversation goes on, here and on any
    /// instance that would otherwise take it over and get stuck in turn. With a <see cref="LaneDetacher"/> (the
    /// dispatcher), the conversation goes on at once, in a lane of its own that parks the abandoned delivery; the
    /// caller's lane, when the rule returns at last, gets <see cref="LaneDetachedException"/> and commits nothing.
    /// </summary>
    private async Task<(EvaluationResult? Result, RuleSetGeneration? Generation, string? Error, bool Stuck)> EvaluateAsync(
        QueuedDelivery queued, KnownConversation state, Func<RuleSetGeneration, KnownConversation, RuleProbe, EvaluationResult> evaluate,
        CancellationToken cancellationToken)
    {
        if (_abandoned.TryGetValue(queued.Id, out var abandonedBecause))
        {
            return (null, null, abandonedBecause, true); // abandoned in a lane that was detached from its conversation
        }

        if (_stuck.TryGetValue(queued.ConversationId, out var stuckIn))
        {
            // Its next delivery would run into the same rule and take another worker: parked without evaluating, until the
            // abandoned evaluation returns (then the conversation's deliveries are evaluated again).
            return (null, null,
                $"Not evaluated: an earlier delivery of this conversation is stuck ({stuckIn}); each stuck evaluation holds a worker. Fix the rule, then re-run the parked deliveries.",
                true);
        }

        await _evaluators.WaitAsync(cancellationToken);
        // Run here, not handed to another thread: the hop cost about a tenth of the ingestion rate (docs/benchmarks.md §15).
        var detacher = LaneDetacher;
        var watched = watchdog.Begin(queued, evaluation => Abandon(evaluation, detacher));
        (EvaluationResult? Result, RuleSetGeneration? Generation, string? Error, bool Stuck) outcome;
        try
        {
            // Taken once a worker is free: the newest rules, not those of when this delivery was read.
            var generation = rules();
            outcome = (evaluate(generation, state, watched.Probe), generation, null, false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Not a rule's failure (the pipeline contains those): the engine itself failed on this delivery. The record keeps
            // the gist; the log keeps the exception, with its stack, for whoever has to fix the engine.
            LogEvaluationThrew(logger, ex, queued.Id, queued.ConversationId);
            outcome = (null, null, $"The evaluation failed: {ex.GetType().Name}: {ex.Message}", false);
        }
        finally
        {
            _evaluators.Release();
        }

        if (watched.Finish())
        {
            return outcome;
        }

        // The watchdog abandoned it before it returned: its worker is free again, and its conversation's deliveries are evaluated again.
        _stuck.TryRemove(queued.ConversationId, out _);
        LogStuckReturned(logger, queued.Id, queued.ConversationId);
        if (detacher is not null)
        {
            throw new LaneDetachedException(queued.ConversationId); // another lane has the conversation (and parks this delivery)
        }

        return (null, null, _abandoned.TryRemove(queued.Id, out var because) ? because : "The evaluation was abandoned", true);
    }

    /// <summary>
    /// Set by the dispatcher while it runs: gives an abandoned evaluation's conversation a new lane (its deliveries go on
    /// while the stuck rule holds the old lane's thread). Called on the watchdog's thread; must not block.
    /// </summary>
    internal Action<QueuedDelivery>? LaneDetacher { get; set; }

    private void Abandon(Watchdog.Evaluation evaluation, Action<QueuedDelivery>? detacher)
    {
        var queued = evaluation.Delivery;
        var description = evaluation.Describe(time.GetUtcNow());
        _abandoned[queued.Id] =
            $"The evaluation was abandoned: {description}, longer than Dispatch:RuleTimeout ({options.RuleTimeout.TotalSeconds:0.###} s). "
            + "A rule cannot be stopped: its worker stays busy until it returns. Fix the rule, then re-run the delivery";
        _stuck[queued.ConversationId] = description;
        detacher?.Invoke(queued);
    }

    private async Task<KnownConversation?> CommitAsync(
        QueuedDelivery queued, DateTimeOffset clock, TimerFiring? timer, KnownConversation state, EvaluationResult result, RuleSetGeneration generation,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var record = result.ToRecord(pipeline.Settings.BotUserId);
        if (timer is not null)
        {
            record = record with { Fired = new FiredTimerRecord(timer.Name, timer.Number, timer.DueAt, timer.FiredAt, timer.ScheduledBy) };
        }

        var next = result.NextState;
        var changes = result.StatusChanges;
        if (queued.Previous is { } earlier && (earlier.RuleFailures is { Count: > 0 } || earlier.EarlierRuleFailures is { Count: > 0 }))
        {
            // A re-run keeps the record of what failed before it, for people asking what happened.
            record = record with { EarlierRuleFailures = [.. earlier.EarlierRuleFailures ?? [], .. earlier.RuleFailures ?? []] };
        }

        if (queued.RerunRules is not null && queued.Previous is { } previous)
        {
            // A re-run of a done delivery: its status changes and state were committed the first time;
            // only the intents of the rules that failed then are new.
            (next, changes) = (null, []);
            record = record with
            {
                StatusChanges = previous.StatusChanges,
                ActionIntents = [.. previous.ActionIntents, .. record.ActionIntents],
                Timers = previous.Timers is null && record.Timers is null ? null : [.. previous.Timers ?? [], .. record.Timers ?? []],
                Stale = previous.Stale,
                Prior = previous.Prior,
            };
        }
        else if (next is not null && state.Known is { } known && next.UpdatedAt < known.UpdatedAt)
        {
            next = null; // a parked delivery re-run after later ones: its changes count, the state stays the newer one
        }

        result = result with { NextState = next, StatusChanges = changes };
        try
        {
            queued.Released = await inbox.CommitEvaluationAsync(
                new EvaluationCommit(queued.Id, queued.ConversationId, queued.Sequence, now, generation.ContentHash,
                    next, changes, result.Intents, record, result.TimerChanges, destinations?.Of(result.Intents)) { Claim = queued.Claim, Release = queued.ReleaseWithCommit },
                cancellationToken);
        }
        catch (DeliveryNotPendingException ex)
        {
            // Whatever processed it committed its own state: read the state again rather than keep ours.
            LogNotPending(logger, queued.Id, ex.Message);
            return null;
        }

        foreach (var failure in result.Failures)
        {
            metrics.RuleFailed(failure.Rule);
            LogRuleFailed(logger, failure.Rule, failure.Location, queued.Id, queued.ConversationId, failure.Where, failure.Message);
        }

        foreach (var change in result.StatusChanges)
        {
            metrics.StatusChanged(change.To);
            if (change.IsFoundByReconciliation)
            {
                metrics.FoundByReconciliation(change.To);
                LogFoundByReconciliation(logger, change.Number, change.ConversationId, change.From ?? "unknown", change.To, change.At);
            }
        }

        foreach (var change in result.TimerChanges)
        {
            metrics.TimerChanged(change.Cancels);
            if (change.DueAt is { } due)
            {
                timerSignal?.Scheduled(due);
            }
        }

        if (timer is not null)
        {
            metrics.TimerHandled((time.GetUtcNow() - timer.DueAt).TotalSeconds); // to the result committed, not submitted
        }

        metrics.Processed(DeliveryOutcome.Done, (now - queued.ReceivedAt).TotalMilliseconds);
        return pipeline.Advance(state, clock, result);
    }

    private async Task ParkAsync(QueuedDelivery queued, string error, DeliveryResult? record, CancellationToken cancellationToken)
    {
        await inbox.RecordFailureAsync(new DeliveryFailure(queued.Id, queued.ConversationId, queued.Sequence, error, true, record) { Claim = queued.Claim }, cancellationToken);
        _abandoned.TryRemove(queued.Id, out _);
        metrics.Processed(DeliveryOutcome.Parked, (time.GetUtcNow() - queued.ReceivedAt).TotalMilliseconds);
        LogParked(logger, queued.Id, queued.ConversationId, error);
    }

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Rule {Rule} ({Location}) failed on delivery {DeliveryId} of conversation {ConversationId} in {Where}: {Message}; the other rules ran and their results are committed")]
    private static partial void LogRuleFailed(ILogger logger, string rule, string location, long deliveryId, int conversationId, string where, string message);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Delivery {DeliveryId} of conversation {ConversationId} failed (attempt {Attempt}, parked: {Parked}); nothing of it was committed: {Error}")]
    private static partial void LogAttemptFailed(ILogger logger, long deliveryId, int conversationId, int attempt, bool parked, string error);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "The abandoned evaluation of delivery {DeliveryId} of conversation {ConversationId} returned at last: its worker is free, and the conversation's deliveries are evaluated again")]
    private static partial void LogStuckReturned(ILogger logger, long deliveryId, int conversationId);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Error, Message = "Delivery {DeliveryId} of conversation {ConversationId} is parked: {Error}. Re-run it once fixed (POST /api/deliveries/ID/rerun, or freescout-rules deliveries rerun)")]
    private static partial void LogParked(ILogger logger, long deliveryId, int conversationId, string error);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Conversation #{Number} ({ConversationId}) changed from {From} to {To} at {At:o} and no webhook reported it: reconciliation with FreeScout's API found it. Webhooks are being lost: check that FreeScout's queue worker runs (php artisan queue:work, or the cron that runs schedule:run), that the webhook's URL in Manage » API & Webhooks reaches this server, and whether this server was down longer than FreeScout retries (about 75 minutes)")]
    private static partial void LogFoundByReconciliation(ILogger logger, int number, int conversationId, string from, string to, DateTimeOffset at);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Delivery {DeliveryId} was not committed: {Reason}")]
    private static partial void LogNotPending(ILogger logger, long deliveryId, string reason);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Error, Message = "The engine failed evaluating delivery {DeliveryId} of conversation {ConversationId} (not a rule: the rules' own failures are contained)")]
    private static partial void LogEvaluationThrew(ILogger logger, Exception exception, long deliveryId, int conversationId);
}
