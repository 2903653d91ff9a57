using System.Linq.Expressions;
using System.Reflection;
using NRules.Extensibility;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// Which rule an evaluation is in right now, readable from another thread: the watchdog names the
/// rule whose condition or action never returns. Every compiled condition and action first marks
/// its rule on the probe of the evaluating thread (<see cref="Active"/>), which costs a field write.
/// </summary>
internal sealed class RuleProbe
{
    [ThreadStatic]
    private static RuleProbe? _active;

    private volatile string? _current;

    /// <summary>The rule whose condition or action ran last (or runs now) on this probe's evaluation.</summary>
    public string? Current => _current;

    /// <summary>The probe of the evaluation running on this thread, set by the evaluator around a session.</summary>
    public static RuleProbe? Active
    {
        get => _active;
        set => _active = value;
    }

    /// <summary>Called by compiled rule expressions.</summary>
    public static void Mark(string rule)
    {
        if (_active is { } probe)
        {
            probe._current = rule;
        }
    }

    internal static readonly MethodInfo MarkMethod = typeof(RuleProbe).GetMethod(nameof(Mark))!;
}

/// <summary>
/// NRules' expression compiler hook: compiles every condition and action of the rule being compiled
/// (<see cref="CompilingRule"/>, set as NRules walks the definitions) with a leading
/// <see cref="RuleProbe.Mark"/> of that rule's name.
/// </summary>
internal sealed class ProbingExpressionCompiler : IExpressionCompiler
{
    public string? CompilingRule { get; set; }

    public TDelegate Compile<TDelegate>(Expression<TDelegate> expression)
        where TDelegate : Delegate
    {
        ArgumentNullException.ThrowIfNull(expression);
        if (CompilingRule is not { } rule)
        {
            return expression.Compile();
        }

        var body = Expression.Block(expression.Body.Type, Expression.Call(RuleProbe.MarkMethod, Expression.Constant(rule)), expression.Body);
        return Expression.Lambda<TDelegate>(body, expression.Parameters).Compile();
    }

    /// <summary>Yields the definitions, telling this compiler which rule NRules is compiling.</summary>
    public IEnumerable<NRules.RuleModel.IRuleDefinition> Track(IEnumerable<NRules.RuleModel.IRuleDefinition> definitions)
    {
        foreach (var definition in definitions)
        {
            CompilingRule = definition.Name;
            yield return definition;
        }

        CompilingRule = null;
    }
}
