using System.Threading.Channels;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Runs the store's pending deliveries (docs/design.md, "Claims and fences"): claims conversations that have pending
/// work, under this instance's lease, and works each claimed conversation as a lane: its pending deliveries read from
/// the store in sequence order, processed one at a time, each committed under the claim (a commit under a claim lost
/// to a takeover is refused, and the lane ends). Lanes run in parallel across conversations, fairly: a lane yields
/// after a batch. A lane with nothing left releases its claim. Work is found two ways: hints the store announces when
/// it commits pending work (a webhook, a timer firing, a reconciled snapshot, a re-run), and a sweep of the store every
/// <see cref="DispatchOptions.SweepInterval"/> (work stored by another process, hints dropped, claims of an instance
/// that died). There is no recovery step: after a crash, the first sweep finds what was left. Memory stays bounded:
/// the store is the backlog; at most <see cref="DispatchOptions.MaxClaims"/> conversations are claimed at once. A
/// storage error keeps the delivery at the head of its lane and tries again after <see cref="DispatchOptions.RetryDelay"/>.
/// Thread-safe.
/// </summary>
internal sealed partial class Dispatcher(
    IInbox inbox,
    WorkHints hints,
    Func<InstanceLease> instance,
    DeliveryProcessor processor,
    DispatchOptions options,
    TimeProvider time,
    EngineMetrics metrics,
    ILogger<Dispatcher> logger)
{
    /// <summary>Deliveries a lane reads and processes before it goes to the back of the line.</summary>
    internal const int FairnessBatch = 32;

    /// <summary>How many releases <see cref="_releasedAt"/> keeps before it starts over.</summary>
    private const int ReleasedKept = 4096;

    private readonly Lock _gate = new();
    private readonly Dictionary<int, Lane> _lanes = [];
    private readonly Channel<Lane> _runnable = Channel.CreateUnbounded<Lane>();
    private readonly IdleStates _idle = new(options.StateCacheSize);

    /// <summary>
    /// The epoch at which this instance last released each conversation's claim (recent ones: started over past
    /// <see cref="ReleasedKept"/>), so that a claim read before that release and handed in after it is known stale.
    /// </summary>
    private Dictionary<int, long> _releasedAt = [];
    private readonly Channel<bool> _slotFreed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly TaskCompletionSource _replacementFailed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationToken _stopping;
    private int _replacements;
    private long _inProgress;

    /// <summary>Deliveries read by a lane and not yet committed as processed.</summary>
    public long InProgress => Interlocked.Read(ref _inProgress);

    /// <summary>Conversations claimed by this instance now.</summary>
    public int Claimed
    {
        get
        {
            lock (_gate)
            {
                return _lanes.Count;
            }
        }
    }

    /// <summary>Runs the claim loop and the lane loops until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _stopping = cancellationToken;
        processor.LaneDetacher = Detach;
        try
        {
            var loops = Task.WhenAll(Enumerable.Range(0, Math.Max(1, options.InFlight)).Select(_ => WorkAsync(cancellationToken)).Append(ClaimLoopAsync(cancellationToken)));
            await Task.WhenAny(loops, _replacementFailed.Task);
            await (_replacementFailed.Task.IsCompleted ? _replacementFailed.Task : loops);
        }
        finally
        {
            processor.LaneDetacher = null;
        }
    }

    /// <summary>
    /// The watchdog abandoned an evaluation stuck in a rule: its lane's thread stays in the rule until it returns, so the
    /// conversation goes on in a new lane (under the same claim; it parks the abandoned delivery) and a worker loop is
    /// added in place of the one held (it leaves again when the stuck one returns). Called on the watchdog's thread.
    /// </summary>
    private void Detach(QueuedDelivery stuck)
    {
        lock (_gate)
        {
            if (_lanes.TryGetValue(stuck.ConversationId, out var lane) && lane.Claim == stuck.Claim)
            {
                var replacement = new Lane(lane.Claim) { More = true };
                _lanes[stuck.ConversationId] = replacement;
                _runnable.Writer.TryWrite(replacement);
            }
        }

        Interlocked.Increment(ref _replacements);
        _ = ReplacementAsync();

        async Task ReplacementAsync()
        {
            try
            {
                await WorkAsync(_stopping);
            }
            catch (Exception ex)
            {
                _replacementFailed.TrySetException(ex); // the dispatcher fails as a whole, for its supervisor to see
            }
        }
    }

    /// <summary>
    /// Claims work: the hinted conversations as hints arrive, and a sweep of the store at start and every
    /// <see cref="DispatchOptions.SweepInterval"/>.
    /// </summary>
    private async Task ClaimLoopAsync(CancellationToken cancellationToken)
    {
        var nextSweep = DateTimeOffset.MinValue;
        var hinted = new HashSet<int>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    TakeHints(hinted);
                    var free = FreeSlots();
                    if (hinted.Count > 0 && free > 0)
                    {
                        // What does not fit now waits here for a lane to end (a burst of fired timers is larger than
                        // MaxClaims); a conversation that is not claimed (another holder's, nothing pending) is the sweep's.
                        var asked = hinted.Take(free).ToList();
                        hinted.ExceptWith(asked);
                        Start(await inbox.ClaimAsync(instance(), asked, free, cancellationToken));
                    }

                    if (time.GetUtcNow() >= nextSweep)
                    {
                        nextSweep = time.GetUtcNow() + options.SweepInterval;
                        var room = FreeSlots();
                        if (room > 0)
                        {
                            Start(await inbox.ClaimAsync(instance(), null, room, cancellationToken));
                        }
                    }
                }
                catch (StorageException ex)
                {
                    metrics.StorageFailed("dispatch");
                    LogClaimFailed(logger, ex);
                    await Task.Delay(options.RetryDelay, time, cancellationToken);
                    continue;
                }

                await WaitForWorkAsync(nextSweep, hinted.Count > 0, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task WaitForWorkAsync(DateTimeOffset nextSweep, bool hintedWaiting, CancellationToken cancellationToken)
    {
        var delay = nextSweep - time.GetUtcNow();
        while (_slotFreed.Reader.TryRead(out _))
        {
        }

        if (delay <= TimeSpan.Zero || hints.Reader.TryPeek(out _) || (hintedWaiting && FreeSlots() > 0))
        {
            return; // the sweep is due, or work waits already (under load, the usual case: no timer to arm)
        }

        using var due = new CancellationTokenSource(delay, time);
        using var sweep = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, due.Token);
        try
        {
            var hinted = hints.Reader.WaitToReadAsync(sweep.Token).AsTask();
            if (hintedWaiting)
            {
                await Task.WhenAny(hinted, _slotFreed.Reader.WaitToReadAsync(sweep.Token).AsTask());
                sweep.Cancel(); // the other wait ends too, rather than staying registered with its channel
            }
            else
            {
                await hinted;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Reads the hints waiting: conversations with a lane here are told to read again; the others are to be claimed.</summary>
    private void TakeHints(HashSet<int> hinted)
    {
        lock (_gate)
        {
            // Bounded: past as many as the hints' own buffer holds, they stay there (or are dropped, for the sweep).
            while (hinted.Count < WorkHints.Capacity && hints.Reader.TryRead(out var hint))
            {
                if (_lanes.TryGetValue(hint.ConversationId, out var lane))
                {
                    lane.More = true;
                }
                else
                {
                    hinted.Add(hint.ConversationId);
                }
            }
        }
    }

    private int FreeSlots()
    {
        lock (_gate)
        {
            return Math.Max(0, options.MaxClaims - _lanes.Count);
        }
    }

    private void Start(IReadOnlyList<ConversationClaim> claims)
    {
        lock (_gate)
        {
            foreach (var claim in claims)
            {
                if (_releasedAt.Remove(claim.ConversationId, out var releasedAt) && claim.Epoch <= releasedAt)
                {
                    // A claim of a conversation this instance held, read before its lane released it at that epoch (a sweep
                    // finds its own claims too) and handed in after: nobody holds it now, and a lane on it would see its
                    // first write refused as a claim lost. Asked again instead: a new claim has a new epoch. Once: should the
                    // store hand the same claim again, it is the store's word (a database that lost its last commits in a
                    // crash, with synchronous_commit off, holds the claim again), and it is worked.
                    hints.Stored(new WorkHint(claim.ConversationId, 0));
                    continue;
                }

                if (_lanes.TryGetValue(claim.ConversationId, out var running))
                {
                    running.More = true; // ours already (a lane here has it)
                    continue;
                }


                var lane = new Lane(claim) { State = _idle.Take(claim.ConversationId, claim.Epoch) };
                _lanes[claim.ConversationId] = lane;
                _runnable.Writer.TryWrite(lane);
            }
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        // Off the caller's thread from the start: evaluations run on their loop's thread, and the caller (the host
        // starting the dispatcher, the watchdog adding a loop) must not find itself running, or stuck in, a rule.
        await Task.Yield();
        try
        {
            await foreach (var lane in _runnable.Reader.ReadAllAsync(cancellationToken))
            {
                if (await DrainAsync(lane, cancellationToken))
                {
                    Interlocked.Decrement(ref _replacements);
                    return; // its stuck rule returned at last: the loop added in its place (Detach) goes on instead
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Processes one batch of the lane's pending deliveries; then yields, releases its claim, or ends with it lost. True
    /// when the lane was detached from its conversation while stuck in a rule (<see cref="Detach"/>).
    /// </summary>
    private async Task<bool> DrainAsync(Lane lane, CancellationToken cancellationToken)
    {
        try
        {
            lane.More = false;
            var pending = await inbox.LoadPendingAsync(lane.Claim, FairnessBatch, cancellationToken);
            var released = false;
            for (var i = 0; i < pending.Count; i++)
            {
                // The last of a short batch commits with the claim's release (when nothing else is pending by then): the
                // usual lane of one delivery needs no write of its own to end.
                var last = i == pending.Count - 1 && pending.Count < FairnessBatch;
                var queued = QueuedDelivery.From(pending[i], lane.Claim) with { ReleaseWithCommit = last && !lane.More };
                Interlocked.Increment(ref _inProgress);
                try
                {
                    lane.State = await ProcessAsync(queued, lane.State, cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref _inProgress);
                }

                released = queued.Released;
            }

            if (released || (pending.Count < FairnessBatch && !lane.More && await inbox.ReleaseAsync(lane.Claim, cancellationToken)))
            {
                End(lane, released: true);
                return false;
            }
        }
        catch (LaneDetachedException)
        {
            return true; // abandoned while stuck in a rule: the conversation went on in a new lane
        }
        catch (ClaimLostException ex)
        {
            // Another instance took the conversation over (this one's lease ran out): its commits stand, ours were refused.
            metrics.ClaimLost();
            LogClaimLost(logger, lane.Claim.ConversationId, ex.Message);
            End(lane, released: false);
            return false;
        }
        catch (StorageException ex)
        {
            // The store refused a read or write (disk full, locked…): nothing of the delivery committed; the lane
            // reads it again after a pause, at the head of its conversation's line.
            metrics.StorageFailed("dispatch");
            LogDispatchFailed(logger, ex, lane.Claim.ConversationId);
            lane.State = null;
            await Task.Delay(options.RetryDelay, time, cancellationToken);
        }

        _runnable.Writer.TryWrite(lane);
        return false;
    }

    private Task<KnownConversation?> ProcessAsync(QueuedDelivery queued, KnownConversation? state, CancellationToken cancellationToken) =>
        processor.ProcessAsync(queued, state, cancellationToken);

    private void End(Lane lane, bool released)
    {
        lock (_gate)
        {
            _lanes.Remove(lane.Claim.ConversationId);
            if (released)
            {
                if (_releasedAt.Count >= ReleasedKept)
                {
                    _releasedAt = []; // crude but O(1), as IdleStates: a stale claim missed is refused at its first write, as before
                }

                _releasedAt[lane.Claim.ConversationId] = lane.Claim.Epoch;

                // Valid while nobody else claims the conversation: the next claim here advances the epoch by one.
                _idle.Remember(lane.Claim.ConversationId, lane.Claim.Epoch, lane.State);
                if (lane.More)
                {
                    // A hint came after the lane decided to release (the store had nothing pending then) and before it
                    // ended: it found the lane and was left to it. Hand it to the claim loop again rather than to the sweep.
                    hints.Stored(new WorkHint(lane.Claim.ConversationId, 0));
                }
            }
        }

        _slotFreed.Writer.TryWrite(true); // after the slot is free: hinted conversations may be waiting for it
    }

    private sealed class Lane(ConversationClaim claim)
    {
        public ConversationClaim Claim { get; } = claim;

        /// <summary>A hint arrived while the lane ran: read the store again before releasing.</summary>
        public volatile bool More;

        /// <summary>The conversation's state after the last delivery processed, or <c>null</c> when it must be read.</summary>
        public KnownConversation? State { get; set; }
    }

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Storage failed while dispatching conversation {ConversationId}; its next delivery stays at the head of its line and is tried again")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception, int conversationId);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Error, Message = "Storage failed while claiming work; trying again shortly")]
    private static partial void LogClaimFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Conversation {ConversationId} was taken over by another instance; this one's late commit was refused and changed nothing: {Reason}")]
    private static partial void LogClaimLost(ILogger logger, int conversationId, string reason);
}
