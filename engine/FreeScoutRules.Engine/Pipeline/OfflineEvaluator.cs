using System.Security.Cryptography;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.InMemory;
using FreeScoutRules.Facts;
using NRules;

namespace FreeScoutRules.Engine.Pipeline;

/// <summary>
/// Runs deliveries one after another through the <see cref="EvaluationPipeline"/>, as the server would with the same
/// rules and settings, on an <see cref="InMemoryStore"/> (the same storage ports as the server's, in memory): for
/// <c>test</c>, <c>replay</c> and <c>explain</c>. Each delivery is stored as its conversation's next, claimed, read back
/// through the one conversion of a stored delivery (<see cref="PipelineInput"/>), evaluated and committed, or parked when
/// its built-in status rules fail (the state stays as it was). So the store's rules hold offline as on the server, kept
/// once per store and not again here: the timer table (a scheduling replaces the pending one of its name and counts its
/// number, a cancel ends it, a firing happens once), and a firing's latest snapshot. <see cref="FireDueAsync"/> fires the
/// timers due by a time, in due order, each at its due time (the timer loop's reading of the store);
/// <see cref="FireStoredAsync"/> runs a firing the server recorded. Not thread-safe: one sequence of deliveries, in order.
/// </summary>
internal sealed class OfflineEvaluator(RuleSetGeneration rules, EvaluationPipeline pipeline)
{
    /// <summary>The run's instance: one holder, whose lease outlives any run.</summary>
    private static readonly TimeSpan LeaseTime = TimeSpan.FromDays(365);

    private readonly Dictionary<int, KnownConversation> _states = [];
    private readonly Dictionary<EvaluationResult, HashSet<(int, string)>> _cancelledNothing = new(ReferenceEqualityComparer.Instance);
    private InstanceLease? _instance;
    private long _stored;
    private int _firings;

    public RuleSetGeneration Rules => rules;

    public EvaluationPipeline Pipeline => pipeline;

    /// <summary>Where the run keeps its deliveries, conversations, timers and outbox.</summary>
    public InMemoryStore Store { get; } = new();

    /// <summary>Timers scheduled and not yet fired or cancelled, soonest first.</summary>
    public Task<IReadOnlyList<StoredTimer>> PendingTimersAsync(CancellationToken cancellationToken = default) =>
        Store.ListAsync(new TimerFilter(Limit: int.MaxValue), cancellationToken);

    /// <summary>The known state of a conversation now, as the run's lane keeps it (unknown before its first delivery).</summary>
    public KnownConversation StateOf(int conversationId) =>
        _states.TryGetValue(conversationId, out var state) ? state : KnownConversation.Unknown(conversationId);

    /// <summary>The cancels of <paramref name="result"/> that found no pending timer of their name (<c>test</c> says so).</summary>
    public IReadOnlySet<(int ConversationId, string Name)> CancelledNothing(EvaluationResult result) =>
        _cancelledNothing.TryGetValue(result, out var none) ? none : [];

    /// <summary>Evaluates <paramref name="delivery"/> as its conversation's next delivery and moves the state on.</summary>
    public Task<EvaluationResult> ProcessAsync(Delivery delivery, Action<ISession>? observer = null, CancellationToken cancellationToken = default) =>
        ProcessAsync(delivery, null, observer, cancellationToken);

    /// <summary>
    /// Runs a stored delivery of a server's history as its conversation's next here: a FreeScout delivery as a delivery, a
    /// timer's firing as that firing (<see cref="FireStoredAsync"/>). <c>null</c>, with why, when it cannot run.
    /// </summary>
    public async Task<(OfflineRun? Run, string? Problem)> RunStoredAsync(StoredDelivery stored, Action<ISession>? observer = null, CancellationToken cancellationToken = default)
    {
        switch (PipelineInput.Of(stored))
        {
            case PipelineInput.FreeScoutDelivery { Delivery: var delivery }:
                return (new OfflineRun(delivery, null, await ProcessAsync(delivery, stored.Body, observer, cancellationToken)), null);
            case PipelineInput.TimerFired timer:
                var (fact, result) = await FireStoredAsync(timer.Firing, timer.Id, observer, cancellationToken);
                return (new OfflineRun(null, fact, result), null);
            case PipelineInput.Unreadable { Problem: var problem }:
                return (null, problem);
            default:
                throw new InvalidOperationException("A stored delivery is a FreeScout delivery, a timer's firing, or unreadable.");
        }
    }

    /// <summary>
    /// Stores <paramref name="delivery"/> as its conversation's next delivery, with its raw <paramref name="body"/> when it has
    /// one (a stored history's) and else with its parsed conversation (a <c>test</c> line's), and runs it; its parsed
    /// conversation goes along to the run as a producer's goes along with its hint.
    /// </summary>
    private async Task<EvaluationResult> ProcessAsync(Delivery delivery, byte[]? body, Action<ISession>? observer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var stored = await Store.StoreAsync(
            new NewDelivery(delivery.Event, body ?? ReadOnlyMemory<byte>.Empty, Key(), delivery.ConversationId, delivery.ReceivedAt)
            {
                Parsed = body is null ? delivery.Conversation : null,
            },
            cancellationToken);
        return (await RunNextAsync(delivery.ConversationId, stored.DeliveryId, delivery.Id, delivery.Conversation, observer, cancellationToken)).Result;
    }

    /// <summary>
    /// Fires, in due order, every pending timer due at or before <paramref name="until"/> (and those its rules schedule
    /// within it), each as if at its due time, as the timer loop reads and fires the store's; <paramref name="fired"/>
    /// hears of each.
    /// </summary>
    public async Task FireDueAsync(DateTimeOffset until, Action<TimerElapsed, EvaluationResult> fired, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fired);
        var dueBefore = until == DateTimeOffset.MaxValue ? until : until.AddTicks(1);
        while ((await Store.ListAsync(new TimerFilter(DueBefore: dueBefore, Limit: 1), cancellationToken)) is [var next])
        {
            var firing = new TimerFiring(next.ConversationId, next.Name, next.Number, next.DueAt, next.DueAt, next.Rule);
            var stored = await Store.FireAsync(firing, cancellationToken)
                ?? throw new InvalidOperationException($"The store listed timer {next.Name} of conversation {next.ConversationId} as pending, then would not fire it.");
            var run = await RunNextAsync(firing.ConversationId, stored.DeliveryId, $"timer:{++_firings}", null, null, cancellationToken);
            fired(run.Timer!, run.Result);
        }
    }

    /// <summary>
    /// Runs <paramref name="firing"/> (one the server recorded) with the conversation's state and latest snapshot as
    /// evaluated so far: fired here when this run has that scheduling pending, else stored as the history holds it.
    /// </summary>
    /// <param name="firing">The firing.</param>
    /// <param name="id">Its id for the fact: the delivery id.</param>
    /// <param name="observer">Sees the session before it fires (explain); optional.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    public async Task<(TimerElapsed Timer, EvaluationResult Result)> FireStoredAsync(
        TimerFiring firing, string id, Action<ISession>? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(firing);
        var stored = await Store.FireAsync(firing, cancellationToken)
            ?? await Store.StoreAsync(new NewDelivery(TimerFiring.Event, firing.ToJson(), Key(), firing.ConversationId, firing.FiredAt), cancellationToken);
        var run = await RunNextAsync(firing.ConversationId, stored.DeliveryId, id, null, observer, cancellationToken);
        return (run.Timer!, run.Result);
    }

    /// <summary>
    /// Claims the conversation, reads its pending delivery (the one just stored: every earlier one ran) through the one
    /// conversion, evaluates it, and commits it, or parks it when its built-in status rules failed; then releases.
    /// </summary>
    private async Task<OfflineRun> RunNextAsync(
        int conversationId, long deliveryId, string id, FreeScout.Conversation? parsed, Action<ISession>? observer, CancellationToken cancellationToken)
    {
        _instance ??= await Store.JoinAsync("offline", LeaseTime, cancellationToken);
        var claim = (await Store.ClaimAsync(_instance, [conversationId], 1, cancellationToken)).Single();
        var pending = (await Store.LoadPendingAsync(claim, 1, cancellationToken)).Single();
        if (pending.Id != deliveryId)
        {
            throw new InvalidOperationException($"Delivery {pending.Id} of conversation {conversationId} is pending before delivery {deliveryId}.");
        }

        var state = _states.TryGetValue(conversationId, out var known) ? known : await Store.LoadConversationAsync(conversationId, pending.ReceivedAt - pipeline.Settings.RuleActionWindow, cancellationToken);
        OfflineRun run;
        DateTimeOffset clock;
        switch (PipelineInput.Of(pending, id, parsed))
        {
            case PipelineInput.FreeScoutDelivery { Delivery: var delivery }:
                clock = delivery.ReceivedAt;
                run = new OfflineRun(delivery, null, pipeline.Evaluate(rules, delivery, state, observer: observer));
                break;
            case PipelineInput.TimerFired timer:
                clock = timer.Firing.DueAt;
                var snapshot = PipelineInput.SnapshotOf(await Store.LoadSnapshotAsync(conversationId, pending.Sequence, cancellationToken));
                var fact = timer.ToFact(state.Known?.Status, snapshot);
                run = new OfflineRun(null, fact, pipeline.Evaluate(rules, fact, state, observer: observer));
                break;
            default:
                throw new InvalidOperationException($"Delivery {deliveryId} was stored by this run and reads back as neither a delivery nor a timer's firing.");
        }

        var result = run.Result;
        var record = result.ToRecord(pipeline.Settings.BotUserId);
        if (result.BuiltInFailed)
        {
            // As the server parks it: nothing of it counts, the state stays as it was.
            await Store.RecordFailureAsync(new DeliveryFailure(pending.Id, conversationId, pending.Sequence, result.DescribeFailures(), Park: true, record) { Claim = claim }, cancellationToken);
        }
        else
        {
            if (run.Timer is { } fired)
            {
                record = record with { Fired = new FiredTimerRecord(fired.Name, fired.Number, fired.DueAt, fired.FiredAt, fired.ScheduledBy) };
            }

            var cancelledNothing = await CancelsOfNothingAsync(result, cancellationToken);
            await Store.CommitEvaluationAsync(
                new EvaluationCommit(pending.Id, conversationId, pending.Sequence, clock, rules.ContentHash, result.NextState, result.StatusChanges,
                    result.Intents, record, result.TimerChanges) { Claim = claim },
                cancellationToken);
            _states[conversationId] = pipeline.Advance(state, clock, result);
            if (cancelledNothing.Count > 0)
            {
                _cancelledNothing[result] = cancelledNothing;
            }
        }

        await Store.ReleaseAsync(claim, cancellationToken);
        return run;
    }

    /// <summary>
    /// The cancels of <paramref name="result"/> that will find no pending timer of their name in the store's table (an
    /// evaluation makes one change per conversation and name, so what is pending before its commit tells).
    /// </summary>
    private async Task<HashSet<(int, string)>> CancelsOfNothingAsync(EvaluationResult result, CancellationToken cancellationToken)
    {
        var nothing = new HashSet<(int, string)>();
        var pending = new Dictionary<int, HashSet<string>>();
        foreach (var cancel in result.TimerChanges.Where(t => t.Cancels))
        {
            if (!pending.TryGetValue(cancel.ConversationId, out var names))
            {
                var timers = await Store.ListAsync(new TimerFilter(cancel.ConversationId, Limit: int.MaxValue), cancellationToken);
                pending[cancel.ConversationId] = names = timers.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            }

            if (!names.Contains(cancel.Name))
            {
                nothing.Add((cancel.ConversationId, cancel.Name));
            }
        }

        return nothing;
    }

    /// <summary>A dedupe key of its own: every input of an offline run is a new delivery, whatever its bytes.</summary>
    private byte[] Key() => SHA256.HashData(BitConverter.GetBytes(++_stored));
}

/// <summary>One evaluation of an offline run: of a delivery, or of a timer's firing.</summary>
internal sealed record OfflineRun(Delivery? Delivery, TimerElapsed? Timer, EvaluationResult Result);
