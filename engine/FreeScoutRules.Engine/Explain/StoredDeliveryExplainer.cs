using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Explain;

/// <summary>What every rule did with one stored delivery, or why it cannot be explained.</summary>
/// <param name="Header">The delivery (or fired timer) in one line.</param>
/// <param name="Rules">Each rule: fired, or its first condition that was false.</param>
/// <param name="Result">What the evaluation produced (<c>null</c> when it could not run).</param>
/// <param name="Problem">Why it cannot be explained (its body was pruned, it is not a conversation), or <c>null</c>.</param>
internal sealed record StoredExplanation(string Header, IReadOnlyList<RuleExplanation> Rules, EvaluationResult? Result, string? Problem);

/// <summary>
/// Explains a stored delivery the way <c>explain --delivery</c> and the console do, with one code path: the
/// conversation's earlier deliveries are evaluated first (so the known state is what these rules would have built),
/// then this one, with every rule's first false condition (<see cref="RuleExplainer"/>). Nothing is written.
/// </summary>
internal static class StoredDeliveryExplainer
{
    /// <summary>
    /// <see cref="ExplainAsync"/> within <paramref name="limit"/> (<c>Dispatch:RuleTimeout</c>): a rule that never returns
    /// cannot be stopped, so past it the explanation is given up (the evaluation goes on in the background until the rule
    /// returns) and its <see cref="StoredExplanation.Problem"/> says so, rather than hanging a console page or the CLI.
    /// </summary>
    public static async Task<StoredExplanation> ExplainWithinAsync(
        TimeSpan limit, RuleSetGeneration rules, EvaluationPipeline pipeline, IReadOnlyList<StoredDelivery> history, long deliveryId,
        CancellationToken cancellationToken = default)
    {
        var explaining = Task.Run(() => ExplainAsync(rules, pipeline, history, deliveryId, cancellationToken), CancellationToken.None);
        try
        {
            return await explaining.WaitAsync(limit, cancellationToken);
        }
        catch (TimeoutException)
        {
            return new StoredExplanation(
                $"delivery {deliveryId}", [], null,
                $"A rule did not return within Dispatch:RuleTimeout ({limit.TotalSeconds:0.###} s) while explaining delivery {deliveryId}: "
                + "it is stuck (the server parks such deliveries; /readyz names the rule). Fix the rule, then explain again.");
        }
    }

    /// <param name="rules">The rules to explain with (the generation in force, or a rules folder's).</param>
    /// <param name="pipeline">The evaluation pipeline with the server's settings.</param>
    /// <param name="history">The delivery's conversation, every stored delivery in sequence order (<see cref="IDeliveryHistory.LoadHistoryAsync"/>).</param>
    /// <param name="deliveryId">The delivery to explain.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    public static async Task<StoredExplanation> ExplainAsync(
        RuleSetGeneration rules, EvaluationPipeline pipeline, IReadOnlyList<StoredDelivery> history, long deliveryId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(history);
        var evaluator = new OfflineEvaluator(rules, pipeline);
        foreach (var stored in history)
        {
            if (stored.Body is null)
            {
                if (stored.Id == deliveryId)
                {
                    return Unexplained($"delivery {deliveryId}: its body was pruned after Retention:Bodies, so it cannot be explained.");
                }

                continue; // pruned: the state it would have recorded is missing from what follows
            }

            if (stored.Id != deliveryId)
            {
                await evaluator.RunStoredAsync(stored, cancellationToken: cancellationToken);
                continue;
            }

            // The one reading of a stored delivery (PipelineInput), through the same run as the deliveries before it.
            if (PipelineInput.Of(stored) is PipelineInput.Unreadable { Problem: var problem })
            {
                return Unexplained(string.Equals(stored.Event, TimerFiring.Event, StringComparison.Ordinal)
                    ? $"delivery {deliveryId}: {problem}"
                    : $"delivery {deliveryId}: its stored body is not a conversation.");
            }

            OfflineRun? run = null;
            var (explained, result) = await RuleExplainer.ExplainAsync(evaluator, async observer =>
            {
                run = (await evaluator.RunStoredAsync(stored, observer, cancellationToken)).Run!;
                return run.Result;
            });
            return new StoredExplanation(run!.Timer is { } timer ? Header(timer) : Header(run.Delivery!), explained, result, null);
        }

        return Unexplained($"delivery {deliveryId}: no such conversation delivery.");
    }

    private static StoredExplanation Unexplained(string problem) => new("", [], null, problem);

    /// <summary>A delivery in one line, as <c>explain</c> prints it.</summary>
    public static string Header(Delivery delivery) =>
        $"{delivery.Event} #{delivery.Conversation.Number} (id {delivery.ConversationId}), status {delivery.Status} at {delivery.UpdatedAt:u}";

    private static string Header(TimerElapsed timer) =>
        $"timer {timer.Name} (number {timer.Number}) of conversation {timer.ConversationId}, due {timer.DueAt:u}, fired {timer.FiredAt:u}, known status {timer.KnownStatus ?? "(none)"}";
}
