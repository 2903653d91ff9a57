using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Timers;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;
using NRules;

namespace FreeScoutRules.Engine.Pipeline;

/// <summary>
/// Runs deliveries one after another through the <see cref="EvaluationPipeline"/> with conversation
/// state kept in memory, as the server would with the same rules and settings: for <c>test</c>,
/// <c>replay</c> and <c>explain</c>. A delivery whose built-in status rules fail changes no state, as a
/// parked one on the server. Timers the rules schedule are kept in memory too, as the server keeps them in
/// its <c>timers</c> table: <see cref="FireDue"/> fires those due by a time, in due order, each at its due
/// time; <see cref="FireStored"/> runs a firing the server recorded. Not thread-safe: one sequence of
/// deliveries, in order.
/// </summary>
internal sealed class OfflineEvaluator(RuleSetGeneration rules, EvaluationPipeline pipeline)
{
    private readonly Dictionary<int, KnownConversation> _states = [];
    private readonly Dictionary<int, Conversation> _snapshots = [];
    private readonly Dictionary<(int ConversationId, string Name), PendingTimer> _timers = [];
    private readonly Dictionary<(int ConversationId, string Name), int> _numbers = [];
    private int _firings;

    public RuleSetGeneration Rules => rules;

    public EvaluationPipeline Pipeline => pipeline;

    /// <summary>Timers scheduled and not yet fired or cancelled, soonest first.</summary>
    public IReadOnlyList<PendingTimer> PendingTimers =>
        [.. _timers.Values.OrderBy(t => t.DueAt).ThenBy(t => t.ConversationId).ThenBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>The known state of a conversation now.</summary>
    public KnownConversation StateOf(int conversationId) =>
        _states.TryGetValue(conversationId, out var state) ? state : KnownConversation.Unknown(conversationId);

    /// <summary>Evaluates <paramref name="delivery"/> against its conversation's state and moves the state on.</summary>
    public EvaluationResult Process(Delivery delivery, Action<ISession>? observer = null)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var state = StateOf(delivery.ConversationId);
        var result = pipeline.Evaluate(rules, delivery, state, observer: observer);
        if (!result.BuiltInFailed)
        {
            _states[delivery.ConversationId] = pipeline.Advance(state, delivery, result);
            if (result.NextState is not null)
            {
                _snapshots[delivery.ConversationId] = delivery.Conversation;
            }

            Apply(result, delivery.ReceivedAt);
        }

        return result;
    }

    /// <summary>
    /// Fires, in due order, every pending timer due at or before <paramref name="until"/> (and those its
    /// rules schedule within it), each as if at its due time; <paramref name="fired"/> hears of each.
    /// </summary>
    public void FireDue(DateTimeOffset until, Action<TimerElapsed, EvaluationResult> fired)
    {
        ArgumentNullException.ThrowIfNull(fired);
        while (NextDue() is { } next && next.DueAt <= until)
        {
            var firing = new TimerFiring(next.ConversationId, next.Name, next.Number, next.DueAt, next.DueAt, next.Rule);
            var (timer, result) = FireStored(firing, $"timer:{++_firings}");
            fired(timer, result);
        }
    }

    /// <summary>
    /// Runs <paramref name="firing"/> (one the server recorded, or one <see cref="FireDue"/> found due) with the
    /// conversation's state and latest snapshot as evaluated so far; the pending timer of that scheduling is gone after.
    /// </summary>
    /// <param name="firing">The firing.</param>
    /// <param name="id">Its id for the fact: the delivery id, or <c>timer:N</c>.</param>
    /// <param name="observer">Sees the session before it fires (explain); optional.</param>
    public (TimerElapsed Timer, EvaluationResult Result) FireStored(TimerFiring firing, string id, Action<ISession>? observer = null)
    {
        ArgumentNullException.ThrowIfNull(firing);
        var key = (firing.ConversationId, firing.Name);
        if (_timers.TryGetValue(key, out var pending) && pending.Number <= firing.Number)
        {
            _timers.Remove(key);
        }

        var state = StateOf(firing.ConversationId);
        var timer = firing.ToFact(id, state.Known?.Status, _snapshots.GetValueOrDefault(firing.ConversationId));
        var result = pipeline.Evaluate(rules, timer, state, observer: observer);
        if (!result.BuiltInFailed)
        {
            _states[firing.ConversationId] = pipeline.Advance(state, firing.DueAt, result);
            Apply(result, firing.DueAt);
        }

        return (timer, result);
    }

    /// <summary>The soonest pending timer (ties: conversation, then name), or <c>null</c>: one pass, not a sort per firing.</summary>
    private PendingTimer? NextDue()
    {
        PendingTimer? next = null;
        foreach (var timer in _timers.Values)
        {
            if (next is null || Earlier(timer, next))
            {
                next = timer;
            }
        }

        return next;
    }

    private static bool Earlier(PendingTimer a, PendingTimer b) =>
        a.DueAt != b.DueAt ? a.DueAt < b.DueAt
        : a.ConversationId != b.ConversationId ? a.ConversationId < b.ConversationId
        : string.CompareOrdinal(a.Name, b.Name) < 0;

    private readonly Dictionary<EvaluationResult, HashSet<(int, string)>> _cancelledNothing = new(ReferenceEqualityComparer.Instance);

    /// <summary>The cancels of <paramref name="result"/> that found no pending timer of their name (<c>test</c> says so).</summary>
    public IReadOnlySet<(int ConversationId, string Name)> CancelledNothing(EvaluationResult result) =>
        _cancelledNothing.TryGetValue(result, out var none) ? none : [];

    /// <summary>Schedules and cancels as the server's commit would (a scheduling replaces the pending timer of its name).</summary>
    private void Apply(EvaluationResult result, DateTimeOffset clock)
    {
        foreach (var change in result.TimerChanges)
        {
            var key = (change.ConversationId, change.Name);
            if (change.DueAt is { } due)
            {
                var number = _numbers.GetValueOrDefault(key) + 1;
                _numbers[key] = number;
                _timers[key] = new PendingTimer(change.ConversationId, change.Name, number, due, change.Rule, clock);
            }
            else if (!_timers.Remove(key))
            {
                (_cancelledNothing.TryGetValue(result, out var none) ? none : _cancelledNothing[result] = []).Add(key);
            }
        }
    }
}

/// <summary>A timer scheduled in an offline run, not yet fired.</summary>
internal sealed record PendingTimer(int ConversationId, string Name, int Number, DateTimeOffset DueAt, string Rule, DateTimeOffset SetAt);
