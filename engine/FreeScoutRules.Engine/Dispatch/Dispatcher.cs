using System.Threading.Channels;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Schedules stored deliveries: strictly in sequence order per conversation, in parallel across
/// conversations, fairly. Each conversation has a lane (a queue) worked by at most one loop at a time;
/// <see cref="DispatchOptions.InFlight"/> loops run at once, and a lane yields after a batch so a busy
/// conversation never starves the others. What happens to one delivery (evaluation, commit, retries,
/// parking) is the <see cref="DeliveryProcessor"/>'s. A storage error keeps the delivery at the head of
/// its lane and tries again after <see cref="DispatchOptions.RetryDelay"/>: nothing was committed, so
/// order and exactly-once hold. On start, <see cref="RecoverAsync"/> queues whatever was stored and not
/// done. Thread-safe.
/// </summary>
internal sealed partial class Dispatcher(
    IInbox inbox,
    DeliveryProcessor processor,
    DispatchOptions options,
    TimeProvider time,
    EngineMetrics metrics,
    ILogger<Dispatcher> logger)
{
    /// <summary>Deliveries a lane processes before it goes to the back of the line.</summary>
    internal const int FairnessBatch = 32;

    private readonly Lock _gate = new();
    private readonly Dictionary<int, Lane> _lanes = [];
    private readonly Channel<Lane> _runnable = Channel.CreateUnbounded<Lane>();
    private readonly IdleStates _idle = new(options.StateCacheSize);
    private long _depth;
    private long _waitingForDepth = -1;
    private TaskCompletionSource? _depthReached;

    /// <summary>Deliveries queued and not yet committed as processed.</summary>
    public long QueueDepth => Interlocked.Read(ref _depth);

    /// <summary>
    /// Returns once at most <paramref name="depth"/> deliveries are queued: how a producer that could queue
    /// faster than the rules run (the timer loop, with a million timers overdue) keeps the queue, which is
    /// in memory, short. One waiter at a time.
    /// </summary>
    public Task WaitForQueueDepthAsync(long depth, CancellationToken cancellationToken)
    {
        if (QueueDepth <= depth)
        {
            return Task.CompletedTask;
        }

        lock (_gate)
        {
            // The limit is published (a full fence) before the depth is read, and a worker decrements (a
            // full fence) before it reads the limit: either this sees its decrement or it sees the limit.
            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _depthReached = waiter;
            Interlocked.Exchange(ref _waitingForDepth, depth);
            if (Interlocked.Read(ref _depth) <= depth)
            {
                _depthReached = null;
                Interlocked.Exchange(ref _waitingForDepth, -1);
                return Task.CompletedTask;
            }

            return waiter.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Queues a committed delivery behind the others of its conversation. Call in commit order.</summary>
    public void Enqueue(QueuedDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        Interlocked.Increment(ref _depth);
        lock (_gate)
        {
            if (!_lanes.TryGetValue(delivery.ConversationId, out var lane))
            {
                lane = new Lane(delivery.ConversationId) { State = _idle.Take(delivery.ConversationId) };
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
        var pending = await inbox.LoadPendingAsync(cancellationToken);
        foreach (var stored in pending)
        {
            Enqueue(QueuedDelivery.From(stored));
        }

        if (pending.Count > 0)
        {
            LogRecovered(logger, pending.Count);
        }

        return pending.Count;
    }

    /// <summary>Runs the lane loops until <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, Math.Max(1, options.InFlight)).Select(_ => WorkAsync(cancellationToken)));

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
                    _idle.Remember(lane.ConversationId, lane.State);
                    return;
                }
            }

            try
            {
                lane.State = await processor.ProcessAsync(next, lane.State, cancellationToken);
            }
            catch (StorageException ex)
            {
                // The store refused a read or write (disk full, locked…): keep the delivery at the head of
                // its lane and try again shortly; order and exactly-once hold because nothing committed.
                metrics.StorageFailed("dispatch");
                LogDispatchFailed(logger, ex, next.Id);
                lane.State = null;
                await Task.Delay(options.RetryDelay, time, cancellationToken);
                done--;
                continue;
            }

            lock (_gate)
            {
                lane.Queue.Dequeue();
            }

            var depth = Interlocked.Decrement(ref _depth);
            if (depth <= Volatile.Read(ref _waitingForDepth))
            {
                DepthReached(depth);
            }
        }

        _runnable.Writer.TryWrite(lane);
    }

    private void DepthReached(long depth)
    {
        lock (_gate)
        {
            if (_depthReached is { } waiter && depth <= _waitingForDepth)
            {
                _depthReached = null;
                Interlocked.Exchange(ref _waitingForDepth, -1);
                waiter.TrySetResult();
            }
        }
    }

    private sealed class Lane(int conversationId)
    {
        public int ConversationId { get; } = conversationId;

        public Queue<QueuedDelivery> Queue { get; } = new();

        public bool Scheduled { get; set; }

        /// <summary>The conversation's state after the last delivery processed, or <c>null</c> when it must be read.</summary>
        public KnownConversation? State { get; set; }
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Recovered {Count} stored deliveries that were not processed yet")]
    private static partial void LogRecovered(ILogger logger, int count);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Storage failed while dispatching delivery {DeliveryId}; it stays at the head of its conversation's queue and is tried again")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception, long deliveryId);
}
