using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Processing;

/// <summary>
/// The engine API: processes one conversation delivery against a state store. Loads the prior
/// known state, evaluates the rules, then records the new state. When a rule throws, nothing is
/// recorded. Callers process the deliveries of one conversation one at a time, in order.
/// </summary>
internal sealed class DeliveryProcessor(RuleSetGeneration rules, IConversationStateStore store)
{
    /// <exception cref="RuleFailedException">A rule threw; the known state is unchanged.</exception>
    public async ValueTask<Evaluation> ProcessAsync(Delivery delivery, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var prior = await store.GetAsync(delivery.ConversationId, cancellationToken);
        var evaluation = RuleEvaluator.Evaluate(rules, delivery, prior);
        if (evaluation.NextState is { } next)
        {
            await store.SetAsync(next, cancellationToken);
        }

        return evaluation;
    }
}
