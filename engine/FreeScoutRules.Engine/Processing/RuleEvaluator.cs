using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Facts;
using NRules;
using NRules.Diagnostics;
using NRules.Extensibility;

namespace FreeScoutRules.Engine.Processing;

/// <summary>
/// Runs one delivery through a rule set in a fresh NRules session: inserts the delivery and the prior
/// known state, fires, and collects the derived facts. Pure: no I/O, no state kept between calls.
/// Thread-safe: each call has its own session.
/// </summary>
internal static class RuleEvaluator
{
    /// <exception cref="RuleFailedException">A rule threw; the evaluation produced nothing.</exception>
    /// <param name="rules">The generation to run.</param>
    /// <param name="delivery">The delivery.</param>
    /// <param name="prior">The known state of its conversation, or <c>null</c>.</param>
    /// <param name="probe">Told which rule runs, for a watchdog on another thread; optional.</param>
    /// <param name="botUserId">Our bot user in FreeScout: an API write by it adds an <see cref="OwnWrite"/> fact.</param>
    public static Evaluation Evaluate(RuleSetGeneration rules, Delivery delivery, PriorState? prior, RuleProbe? probe = null, int? botUserId = null)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(delivery);
        var session = rules.SessionFactory.CreateSession();
        session.DependencyResolver = new DeliveryResolver(delivery);
        var fired = new List<string>();
        string? failedRule = null;
        session.Events.RuleFiredEvent += (_, e) => fired.Add(e.Rule.Name);
        session.Events.LhsExpressionFailedEvent += (_, e) => failedRule ??= e.Rules.FirstOrDefault()?.Name;
        RuleProbe.Active = probe;
        try
        {
            session.Insert(delivery);
            if (prior is not null)
            {
                session.Insert(prior);
            }

            if (botUserId is { } bot && OwnWrite.IsOwnWrite(delivery, bot))
            {
                session.Insert(new OwnWrite(delivery.ConversationId, bot));
            }

            session.Fire();
        }
        catch (Exception ex) when (ex is NRules.RuleExecutionException or RuleExpressionEvaluationException or AgendaExpressionEvaluationException)
        {
            var ruleName = ex switch
            {
                RuleRhsExpressionEvaluationException rhs => rhs.RuleName,
                AgendaExpressionEvaluationException agenda => agenda.RuleName,
                _ => failedRule,
            };
            throw new RuleFailedException(ruleName, delivery.Id, ex);
        }
        finally
        {
            RuleProbe.Active = null;
        }

        // Query<T>() is an IQueryable: LINQ operators on it compile an expression tree per call
        // (~250 µs). AsEnumerable() keeps every operator in memory.
        return new Evaluation(
            [.. session.Query<StatusChanged>().AsEnumerable()],
            [.. session.Query<ActionIntent>().AsEnumerable()],
            session.Query<NextState>().AsEnumerable().FirstOrDefault(s => s.ConversationId == delivery.ConversationId),
            fired);
    }
}

/// <summary>Lets <see cref="RuleContextExtensions.Enqueue"/> find the delivery being processed.</summary>
internal sealed class DeliveryResolver(Delivery delivery) : IDependencyResolver
{
    public object Resolve(IResolutionContext context, Type serviceType) =>
        serviceType == typeof(Delivery)
            ? delivery
            : throw new InvalidOperationException($"Rules can resolve only the delivery, not {serviceType.Name}.");
}
