using System.Linq.Expressions;
using System.Reflection;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Facts;
using FreeScoutRules.Timers;
using NRules.RuleModel;

namespace FreeScoutRules.Ops;

/// <summary>
/// The variables a concise rule's patterns bind, named as the rules written in NRules' DSL name them
/// (<c>change</c>, <c>delivery</c>, <c>timer</c>). NRules takes a pattern's name from the member an alias expression
/// reads, and turns every read of such a member in a condition or action into that pattern's fact, so expressions
/// built over these fields mean the facts.
/// </summary>
internal sealed class Symbols
{
#pragma warning disable IDE0052, CS0169, CA1823 // read only through expression trees, never assigned: NRules replaces them by the facts
    private readonly StatusChanged? change;
    private readonly Delivery? delivery;
    private readonly TimerElapsed? timer;
#pragma warning restore IDE0052, CS0169, CA1823

    public const string Change = nameof(change);
    public const string Delivery = nameof(delivery);
    public const string Timer = nameof(timer);

    private static readonly ConstantExpression Holder = Expression.Constant(new Symbols());

    /// <summary>The fact bound to <paramref name="name"/>, in a condition or an action.</summary>
    public static MemberExpression Of(string name) =>
        Expression.Field(Holder, typeof(Symbols).GetField(name, BindingFlags.NonPublic | BindingFlags.Instance)!);

    /// <summary>The alias of a pattern (<c>() =&gt; change</c>).</summary>
    public static Expression<Func<T>> Alias<T>(string name) => Expression.Lambda<Func<T>>(Of(name));

    public override string ToString() => "symbols";
}

/// <summary>The text of a rule author's lambda as written, on one line and not too long, for <c>explain</c> and failures.</summary>
internal static class SourceText
{
    private const int MaxLength = 160;

    public static string Of(string? text, string fallback)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        var line = new StringBuilder(text.Length);
        var space = false;
        foreach (var c in text.Trim())
        {
            if (char.IsWhiteSpace(c))
            {
                space = true;
                continue;
            }

            if (space)
            {
                line.Append(' ');
                space = false;
            }

            line.Append(c);
        }

        return line.Length <= MaxLength ? line.ToString() : string.Concat(line.ToString(0, MaxLength - 1), "…");
    }

    public static string Quote(string value) => $"\"{value}\"";
}

/// <summary>
/// A condition of the rule's author (<c>.Where(c =&gt; …)</c>): a delegate over the <see cref="Occasion"/>, called by the
/// rule's NRules condition (<c>delivery =&gt; (c =&gt; …).Invoke(delivery)</c>, as <c>explain</c> shows it).
/// </summary>
internal sealed class AuthorCondition(Func<Occasion, bool> condition, string text)
{
    internal static readonly MethodInfo OnChange = typeof(AuthorCondition).GetMethod(nameof(Invoke), [typeof(StatusChanged), typeof(Delivery)])!;
    internal static readonly MethodInfo OnDelivery = typeof(AuthorCondition).GetMethod(nameof(Invoke), [typeof(Delivery)])!;
    internal static readonly MethodInfo OnTimer = typeof(AuthorCondition).GetMethod(nameof(Invoke), [typeof(TimerElapsed)])!;

    public bool Invoke(StatusChanged change, Delivery delivery) => condition(new Occasion(change, delivery, null));

    public bool Invoke(Delivery delivery) => condition(new Occasion(null, delivery, null));

    public bool Invoke(TimerElapsed timer) => condition(new Occasion(null, null, timer));

    public override string ToString() => $"({text})";
}

/// <summary>
/// An action of a concise rule, fired by its NRules action (<c>ctx =&gt; Post("…", c =&gt; …).Run(ctx, change)</c>, as
/// <c>explain</c> shows it; a failure names just this action, by its text). Records intents and timer changes through <see cref="RuleContextExtensions"/>,
/// like any rule.
/// </summary>
internal abstract class ConciseAction(string text)
{
    internal static readonly MethodInfo OnChange = typeof(ConciseAction).GetMethod(nameof(Run), [typeof(IContext), typeof(StatusChanged)])!;
    internal static readonly MethodInfo OnDelivery = typeof(ConciseAction).GetMethod(nameof(Run), [typeof(IContext), typeof(Delivery)])!;
    internal static readonly MethodInfo OnTimer = typeof(ConciseAction).GetMethod(nameof(Run), [typeof(IContext), typeof(TimerElapsed)])!;

    /// <summary>A status change comes with the delivery that revealed it: the session's, resolved through the context.</summary>
    public void Run(IContext context, StatusChanged change) =>
        Record(context, new Occasion(change, context.Resolve(typeof(Delivery)) as Delivery, null));

    public void Run(IContext context, Delivery delivery) => Record(context, new Occasion(null, delivery, null));

    public void Run(IContext context, TimerElapsed timer) => Record(context, new Occasion(null, null, timer));

    protected abstract void Record(IContext context, Occasion occasion);

    public override string ToString() => text;
}

/// <summary>Records an action intent: its name and arguments, computed from the occasion when it fires.</summary>
internal sealed class EnqueueAction(string action, Func<Occasion, object?> arguments, string text) : ConciseAction(text)
{
    protected override void Record(IContext context, Occasion occasion) => context.Enqueue(action, arguments(occasion));
}

/// <summary>Schedules a named timer of the conversation, after a span of time or of a calendar's business hours.</summary>
internal sealed class ScheduleAction(string timer, TimeSpan after, string? calendar, string text) : ConciseAction(text)
{
    protected override void Record(IContext context, Occasion occasion)
    {
        if (calendar is null)
        {
            context.Schedule(timer, occasion.ConversationId, after);
        }
        else
        {
            context.Schedule(timer, occasion.ConversationId, BusinessTime.After(calendar, after));
        }
    }
}

/// <summary>Cancels a named timer of the conversation, if one is pending.</summary>
internal sealed class CancelAction(string timer) : ConciseAction($"Cancel({SourceText.Quote(timer)})")
{
    protected override void Record(IContext context, Occasion occasion) => context.CancelTimer(timer, occasion.ConversationId);
}
