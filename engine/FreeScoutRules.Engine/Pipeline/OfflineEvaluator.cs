using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;
using NRules;

namespace FreeScoutRules.Engine.Pipeline;

/// <summary>
/// Runs deliveries one after another through the <see cref="EvaluationPipeline"/> with conversation
/// state kept in memory, as the server would with the same rules and settings: for <c>test</c>,
/// <c>replay</c> and <c>explain</c>. A delivery whose built-in status rules fail changes no state, as a
/// parked one on the server. Not thread-safe: one sequence of deliveries, in order.
/// </summary>
internal sealed class OfflineEvaluator(RuleSetGeneration rules, EvaluationPipeline pipeline)
{
    private readonly Dictionary<int, KnownConversation> _states = [];

    public RuleSetGeneration Rules => rules;

    public EvaluationPipeline Pipeline => pipeline;

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
        }

        return result;
    }
}
