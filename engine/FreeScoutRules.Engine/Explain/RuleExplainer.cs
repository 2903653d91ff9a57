using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Facts;
using NRules;

namespace FreeScoutRules.Engine.Explain;

/// <summary>Whether one rule fired on a delivery, and if not, why not.</summary>
/// <param name="Rule">The rule's name.</param>
/// <param name="File">The rule file.</param>
/// <param name="Fired">True when it fired.</param>
/// <param name="Reason">For a rule that did not fire: the first condition that failed (with the
/// facts it failed on), the fact types it needed that were absent, or what else stopped it. For one
/// that fired: what became of its intents when they were not queued, or its failure.</param>
/// <param name="DependsOn">Settings this rule's result depends on, with their values in force.</param>
internal sealed record RuleExplanation(string Rule, string File, bool Fired, string? Reason, IReadOnlyList<string> DependsOn);

/// <summary>
/// Explains one delivery: the same evaluation as everywhere (<see cref="EvaluationPipeline"/>, through
/// the <see cref="OfflineEvaluator"/> that ran the conversation's earlier deliveries), with NRules'
/// condition events recorded to tell, for every rule, whether it fired and, for one that did not,
/// which condition failed first. For people and tools, not for the hot path.
/// </summary>
internal static class RuleExplainer
{
    public static Task<(IReadOnlyList<RuleExplanation> Rules, EvaluationResult Result)> ExplainAsync(
        OfflineEvaluator evaluator, Delivery delivery, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        ArgumentNullException.ThrowIfNull(delivery);
        return ExplainAsync(evaluator, observer => evaluator.ProcessAsync(delivery, observer, cancellationToken));
    }

    /// <summary>Explains what <paramref name="evaluate"/> evaluates (a delivery, a timer's firing) with the observer it is given.</summary>
    public static async Task<(IReadOnlyList<RuleExplanation> Rules, EvaluationResult Result)> ExplainAsync(
        OfflineEvaluator evaluator, Func<Action<ISession>, Task<EvaluationResult>> evaluate)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        ArgumentNullException.ThrowIfNull(evaluate);
        var firstFailure = new Dictionary<string, string>(StringComparer.Ordinal);
        HashSet<Type> present = [];
        var result = await evaluate(session =>
        {
            session.Events.LhsExpressionEvaluatedEvent += (_, e) =>
            {
                if (e.Exception is null && e.Result is not false)
                {
                    return;
                }

                var facts = string.Join(", ", e.Facts?.Select(f => f.Value?.GetType().Name ?? "null") ?? []);
                var what = e.Exception is null
                    ? $"condition {e.Expression} was false (on {facts})"
                    : $"condition {e.Expression} threw {e.Exception.GetType().Name}: {e.Exception.Message} (on {facts})";
                foreach (var rule in e.Rules)
                {
                    firstFailure.TryAdd(rule.Name, what);
                }
            };
            session.Events.FactInsertedEvent += (_, e) => present.Add(e.Fact.Value?.GetType() ?? e.Fact.Type);
        });

        var settings = evaluator.Pipeline.Settings;
        var explanations = evaluator.Rules.Rules.Select(rule =>
        {
            var dependsOn = rule.Settings.Select(s => s == "Dispatch:BotUserId"
                ? $"{s} = {(settings.BotUserId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(not set: no OwnWrite fact is ever inserted)")}"
                : s).ToList();
            if (result.Failures.FirstOrDefault(f => f.Rule == rule.Name) is { } failure)
            {
                return new RuleExplanation(rule.Name, rule.File, result.RulesFired.Contains(rule.Name),
                    $"failed in {failure.Where}: {failure.Message}", dependsOn);
            }

            if (result.RulesFired.Contains(rule.Name))
            {
                var held = result.Suppressed.Where(s => s.Intent.Rule == rule.Name).Select(s => s.Reason).ToList();
                return new RuleExplanation(rule.Name, rule.File, true, held.Count == 0 ? null : string.Join(" ", held), dependsOn);
            }

            if (firstFailure.TryGetValue(rule.Name, out var failed))
            {
                return new RuleExplanation(rule.Name, rule.File, false, failed, dependsOn);
            }

            var missing = rule.FactTypes.Where(t => !present.Any(t.IsAssignableFrom)).Select(t => t.Name).ToList();
            return new RuleExplanation(rule.Name, rule.File, false, missing.Count > 0
                ? $"no {string.Join(" or ", missing)} fact in the session"
                : "its conditions held for each fact, but no combination matched (a join or a Not/Exists pattern stopped it)", dependsOn);
        }).ToList();
        return (explanations, result);
    }
}
