using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Processing;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Facts;
using NRules;

namespace FreeScoutRules.Engine.Explain;

/// <summary>Whether one rule fired on a delivery, and if not, why not.</summary>
/// <param name="Rule">The rule's name.</param>
/// <param name="File">The rule file.</param>
/// <param name="Fired">True when it fired.</param>
/// <param name="Reason">For a rule that did not fire: the first condition that failed (with the
/// facts it failed on), the fact types it needed that were absent, or what else stopped it.</param>
internal sealed record RuleExplanation(string Rule, string File, bool Fired, string? Reason);

/// <summary>
/// Runs one delivery like <see cref="RuleEvaluator"/> and listens to NRules' diagnostic events to
/// tell, for every rule, whether it fired and, for one that did not, which condition failed first.
/// For people and tools, not for the hot path: it records every condition evaluation.
/// </summary>
internal static class RuleExplainer
{
    public static (IReadOnlyList<RuleExplanation> Rules, Evaluation? Evaluation, string? Error) Explain(
        RuleSetGeneration rules, Delivery delivery, PriorState? prior)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(delivery);
        var session = rules.SessionFactory.CreateSession();
        session.DependencyResolver = new DeliveryResolver(delivery);
        var fired = new List<string>();
        var firstFailure = new Dictionary<string, string>(StringComparer.Ordinal);
        session.Events.RuleFiredEvent += (_, e) => fired.Add(e.Rule.Name);
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

        string? error = null;
        Evaluation? evaluation = null;
        try
        {
            session.Insert(delivery);
            if (prior is not null)
            {
                session.Insert(prior);
            }

            session.Fire();
            evaluation = new Evaluation(
                [.. session.Query<StatusChanged>().AsEnumerable()],
                [.. session.Query<ActionIntent>().AsEnumerable()],
                session.Query<NextState>().AsEnumerable().FirstOrDefault(),
                fired);
        }
        catch (Exception ex) when (ex is NRules.RuleExecutionException or RuleExpressionEvaluationException)
        {
            error = ex.GetBaseException().Message;
        }

        var present = new HashSet<Type>(session.Query<object>().AsEnumerable().Select(f => f.GetType()));
        var explanations = rules.Rules.Select(rule =>
        {
            if (fired.Contains(rule.Name))
            {
                return new RuleExplanation(rule.Name, rule.File, true, null);
            }

            if (firstFailure.TryGetValue(rule.Name, out var failure))
            {
                return new RuleExplanation(rule.Name, rule.File, false, failure);
            }

            var missing = rule.FactTypes.Where(t => !present.Any(t.IsAssignableFrom)).Select(t => t.Name).ToList();
            return new RuleExplanation(rule.Name, rule.File, false, missing.Count > 0
                ? $"no {string.Join(" or ", missing)} fact in the session"
                : "its conditions held for each fact, but no combination matched (a join or a Not/Exists pattern stopped it)");
        }).ToList();
        return (explanations, evaluation, error);
    }
}
