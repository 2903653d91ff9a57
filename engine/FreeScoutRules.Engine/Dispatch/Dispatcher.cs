using System.Globalization;
using System.Threading.Channels;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Processing;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Runs stored deliveries through the rules strictly in sequence order per conversation and in
/// parallel across conversations. Each conversation has a lane (a queue); a lane is worked by at most
/// one loop at a time. <see cref="DispatchOptions.InFlight"/> loops run at once, of which at most
/// <see cref="DispatchOptions.Workers"/> evaluate rules at a time; the others wait for their commits,
/// which the single writer groups into shared transactions. What a delivery produced is committed in
/// one transaction with its done mark (<see cref="ApplyEvaluationOperation"/>), so a crash never
/// processes it twice nor loses it: on start, <see cref="RecoverAsync"/> queues again whatever was
/// stored and not done. A delivery whose rules throw is retried <see cref="DispatchOptions.MaxAttempts"/>
/// times, then parked, and its conversation moves on; other conversations are never held up. Thread-safe.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Design", "CA1001", Justification = "The SemaphoreSlim's wait handle is never asked for, so it owns nothing to free; an evaluation abandoned at shutdown (a rule that never returns) may still release it.")]
internal sealed partial class Dispatcher(
    InboxWriter writer,
    DeliveryQueries queries,
    Func<RuleSetGeneration> rules,
    DispatchOptions options,
    TimeProvider time,
    EngineMetrics metrics,
    ILogger<Dispatcher> logger)
{
    private const int FairnessBatch = 32;

    private readonly Lock _gate = new();
    private readonly Dictionary<int, Lane> _lanes = [];
    private readonly Channel<Lane> _runnable = Channel.CreateUnbounded<Lane>();
    private readonly DeliveryParser _parser = new(new DeliveryParserOptions { AcceptCustomEvents = true });
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, InFlight> _inFlight = new();
    private readonly SemaphoreSlim _evaluators = new(Math.Max(1, options.Workers));

    // Known states of conversations whose lanes are gone (guarded by _gate): a conversation's next
    // delivery then needs no database read. Only the dispatcher writes conversation states.
    private Dictionary<int, PriorState?> _idleStates = [];
    private long _depth;

    /// <summary>Deliveries queued and not yet committed as processed.</summary>
    public long QueueDepth => Interlocked.Read(ref _depth);

    /// <summary>Queues a committed delivery behind the others of its conversation. Call in commit order.</summary>
    public void Enqueue(QueuedDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        Interlocked.Increment(ref _depth);
        lock (_gate)
        {
            if (!_lanes.TryGetValue(delivery.ConversationId, out var lane))
            {
                lane = new Lane(delivery.ConversationId);
                if (_idleStates.Remove(delivery.ConversationId, out var known))
                {
                    lane.State = known;
                    lane.StateLoaded = true;
                }

                _lanes[delivery.ConversationId] = lane;
            }

            lane.Queue.Enqueue(delivery);
            if (!lane.Scheduled)
            {
                lane.Scheduled = true;
                _runnable.Writer.TryWrite(lane);
            }
        }
    }

    /// <summary>Queues every stored delivery that is not done yet (after a restart or crash). Call before accepting new ones.</summary>
    public async Task<int> RecoverAsync(CancellationToken cancellationToken)
    {
        var pending = await queries.LoadPendingAsync(cancellationToken);
        foreach (var stored in pending)
        {
            Enqueue(new QueuedDelivery(stored.Id, stored.Event, stored.ConversationId, stored.Sequence, stored.ReceivedAt, null, stored.Body, stored.Attempts));
        }

        if (pending.Count > 0)
        {
            LogRecovered(logger, pending.Count);
        }

        return pending.Count;
    }

    /// <summary>Deliveries that have been in the rules longer than <see cref="DispatchOptions.RuleTimeout"/>, described for people.</summary>
    public IReadOnlyList<string> Stuck =>
        [.. _inFlight.Values.Where(f => f.Reported).Select(f => f.Describe(time.GetUtcNow()))];

    /// <summary>Runs the workers and the watchdog until <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, Math.Max(1, options.InFlight)).Select(_ => WorkAsync(cancellationToken)).Append(WatchAsync(cancellationToken)));

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, options.RuleTimeout.Ticks / 5));
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var now = time.GetUtcNow();
                foreach (var flight in _inFlight.Values.Where(f => !f.Reported && now - f.Started > options.RuleTimeout))
                {
                    flight.Reported = true;
                    LogStuck(logger, flight.Describe(now));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var lane in _runnable.Reader.ReadAllAsync(cancellationToken))
            {
                await DrainAsync(lane, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task DrainAsync(Lane lane, CancellationToken cancellationToken)
    {
        for (var done = 0; done < FairnessBatch; done++)
        {
            QueuedDelivery? next;
            lock (_gate)
            {
                if (!lane.Queue.TryPeek(out next))
                {
                    lane.Scheduled = false;
                    _lanes.Remove(lane.ConversationId);
                    RememberIdle(lane);
                    return;
                }
            }

            try
            {
                await ProcessAsync(lane, next, cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // The database refused a write (disk full, locked…): keep the delivery at the head of
                // its lane and try again shortly; order and exactly-once hold because nothing committed.
                LogDispatchFailed(logger, ex, next.Id);
                await Task.Delay(options.RetryDelay, time, cancellationToken);
                continue;
            }

            lock (_gate)
            {
                lane.Queue.Dequeue();
            }

            Interlocked.Decrement(ref _depth);
        }

        _runnable.Writer.TryWrite(lane);
    }

    private void RememberIdle(Lane lane)
    {
        if (!lane.StateLoaded || options.StateCacheSize == 0)
        {
            return;
        }

        if (_idleStates.Count >= options.StateCacheSize)
        {
            // Crude but O(1): start over (the old table goes to the GC, not cleared under the lock).
            // States are read back from the database on demand.
            _idleStates = [];
        }

        _idleStates[lane.ConversationId] = lane.State;
    }

    private async Task ProcessAsync(Lane lane, QueuedDelivery queued, CancellationToken cancellationToken)
    {
        string? parseError = null;
        var conversation = queued.Conversation ?? ParseStored(queued, out parseError);
        if (conversation is null)
        {
            await CommitFailureAsync(queued, parseError ?? "The stored body is not a conversation.", park: true, cancellationToken);
            return;
        }

        if (!lane.StateLoaded)
        {
            lane.State = await queries.GetConversationStateAsync(lane.ConversationId, cancellationToken);
            lane.StateLoaded = true;
        }

        var delivery = new Delivery(queued.Id.ToString(CultureInfo.InvariantCulture), queued.Event, queued.ReceivedAt, conversation);
        for (var attempt = queued.Attempts + 1; ; attempt++)
        {
            Evaluation? evaluation = null;
            RuleFailedException? failure = null;
            RuleSetGeneration? generation = null;
            await _evaluators.WaitAsync(cancellationToken);
            try
            {
                // Taken once a worker is free: the newest rules, not those of when this delivery queued.
                generation = rules();
                var flight = new InFlight(queued, new RuleProbe(), time.GetUtcNow());
                _inFlight[queued.Id] = flight;
                evaluation = RuleEvaluator.Evaluate(generation, delivery, lane.State, flight.Probe, options.BotUserId);
            }
            catch (RuleFailedException ex)
            {
                failure = ex;
            }
            finally
            {
                _inFlight.TryRemove(queued.Id, out _);
                _evaluators.Release();
            }

            if (failure is not null)
            {
                var park = attempt >= options.MaxAttempts;
                LogRuleFailed(logger, failure.RuleName ?? "(a condition)", queued.Id, queued.ConversationId, attempt, park, failure.InnerException);
                await CommitFailureAsync(queued, failure.Message, park, cancellationToken);
                if (park)
                {
                    return;
                }

                await Task.Delay(options.RetryDelay * Math.Pow(2, attempt - 1), time, cancellationToken);
                continue;
            }

            await CommitAsync(lane, queued, evaluation!, generation!.ContentHash, cancellationToken);
            return;
        }
    }

    private async Task CommitAsync(
        Lane lane, QueuedDelivery queued, Evaluation evaluation, string generation, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var operation = new ApplyEvaluationOperation(
            queued.Id, queued.ConversationId, queued.Sequence, evaluation, now, generation,
            new RuleActionLimit(options.RuleActionLimit, options.RuleActionWindow));
        try
        {
            await writer.SubmitAsync(operation, cancellationToken);
        }
        catch (WriteRefusedException ex)
        {
            LogNotPending(logger, queued.Id, ex.Message);

            // Whatever processed it committed its own state: read the state again rather than keep ours.
            lane.StateLoaded = false;
            return;
        }

        if (evaluation.NextState is { } next)
        {
            // Milliseconds, as the database keeps it: the same state whether it comes from memory or disk.
            lane.State = new PriorState(next.ConversationId, next.Status, DateTimeOffset.FromUnixTimeMilliseconds(next.UpdatedAt.ToUnixTimeMilliseconds()));
        }

        foreach (var change in evaluation.StatusChanges)
        {
            metrics.StatusChanged(change.To);
        }

        metrics.Processed(DeliveryOutcome.Done, (now - queued.ReceivedAt).TotalMilliseconds);
    }

    private async Task CommitFailureAsync(QueuedDelivery queued, string error, bool park, CancellationToken cancellationToken)
    {
        await writer.SubmitAsync(new RecordFailureOperation(queued.Id, queued.ConversationId, queued.Sequence, error, park), cancellationToken);
        if (park)
        {
            metrics.Processed(DeliveryOutcome.Parked, (time.GetUtcNow() - queued.ReceivedAt).TotalMilliseconds);
        }
    }

    private FreeScout.Conversation? ParseStored(QueuedDelivery queued, out string? error)
    {
        var result = _parser.Parse(queued.Event, queued.Body);
        error = result.Problem?.Message;
        return result.Delivery?.Conversation;
    }

    /// <summary>An evaluation in progress, watched by the watchdog.</summary>
    private sealed class InFlight(QueuedDelivery delivery, RuleProbe probe, DateTimeOffset started)
    {
        public RuleProbe Probe { get; } = probe;

        public DateTimeOffset Started { get; } = started;

        public volatile bool Reported;

        public string Describe(DateTimeOffset now) =>
            $"delivery {delivery.Id} ({delivery.Event}) of conversation {delivery.ConversationId} has been in rule '{Probe.Current ?? "(none yet)"}' for {(now - Started).TotalSeconds:F0} s";
    }

    private sealed class Lane(int conversationId)
    {
        public int ConversationId { get; } = conversationId;

        public Queue<QueuedDelivery> Queue { get; } = new();

        public bool Scheduled { get; set; }

        public bool StateLoaded { get; set; }

        public PriorState? State { get; set; }
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Recovered {Count} stored deliveries that were not processed yet")]
    private static partial void LogRecovered(ILogger logger, int count);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Rule {Rule} failed on delivery {DeliveryId} of conversation {ConversationId} (attempt {Attempt}, parked: {Parked})")]
    private static partial void LogRuleFailed(ILogger logger, string rule, long deliveryId, int conversationId, int attempt, bool parked, Exception? exception);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Dispatch of delivery {DeliveryId} failed; it stays queued and is tried again")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception, long deliveryId);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Watchdog: {Description}; its conversation is blocked until it returns")]
    private static partial void LogStuck(ILogger logger, string description);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Delivery {DeliveryId} was not committed: {Reason}")]
    private static partial void LogNotPending(ILogger logger, long deliveryId, string reason);
}
