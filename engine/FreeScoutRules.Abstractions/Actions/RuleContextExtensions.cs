using System.Text.Json.Nodes;
using FreeScoutRules.Facts;
using FreeScoutRules.Timers;
using NRules.RuleModel;

namespace FreeScoutRules.Actions;

/// <summary>What a rule's right-hand side may do besides inserting facts: record action intents.</summary>
public static class RuleContextExtensions
{
    /// <summary>
    /// Records that <paramref name="action"/> should run with <paramref name="arguments"/> for the
    /// conversation of the delivery (or timer) being processed. No I/O happens here.
    /// </summary>
    /// <param name="context">The rule's context (<c>ctx</c> in <c>Then().Do(ctx => …)</c>).</param>
    /// <param name="action">The action's name, as a plugin declares it.</param>
    /// <param name="arguments">
    /// An object whose public properties become the JSON arguments, usually an anonymous object
    /// (<c>new { channel = "#support", text = "…" }</c>: expression trees allow those, not dictionary
    /// initialisers); a <see cref="JsonObject"/>, a dictionary, or <c>null</c> for none.
    /// </param>
    /// <example><code>Then().Do(ctx => ctx.Enqueue("slack", new { text = $"#{change.Number} closed" }));</code></example>
    /// <exception cref="ArgumentException"><paramref name="action"/> is empty, or the arguments are not an object.</exception>
    /// <exception cref="InvalidOperationException">The session was not started by the FreeScoutRules engine.</exception>
    public static void Enqueue(this IContext context, string action, object? arguments = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        var (conversationId, _) = Subject(context);
        var json = ArgumentsJson.From(arguments);
        // The places of Secret.Ref's markers, which become secret://NAME in the arguments recorded.
        var places = SecretPlaces.Extract(json);
        var intent = new ActionIntent(context.Rule.Name, action, conversationId, json.ToJsonString(ArgumentsJson.WriteOptions)) { SecretPlaces = places };
        context.TryInsert(intent);
    }

    /// <summary>
    /// Schedules the timer <paramref name="name"/> of <paramref name="conversationId"/> to be due
    /// <paramref name="after"/> the evaluation's clock: a delivery's receipt, or the due time of the timer being
    /// handled (never the wall clock, so <c>test</c> and <c>replay</c> compute the same due time, and a chain of
    /// reminders stays on its grid however late one fired). Scheduling a name again for the same conversation
    /// replaces the earlier timer. Stored with the rest of this evaluation's result, all or nothing; when it is
    /// due, the rules run with a <see cref="TimerElapsed"/> fact, once.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or longer than <see cref="TimerChange.MaxNameLength"/>, the conversation id is not positive, or <paramref name="after"/> is negative.</exception>
    /// <exception cref="InvalidOperationException">The session was not started by the FreeScoutRules engine.</exception>
    public static void Schedule(this IContext context, string name, int conversationId, TimeSpan after)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(after, TimeSpan.Zero);
        Record(context, name, conversationId, Clock(context) + after);
    }

    /// <summary>
    /// Schedules the timer <paramref name="name"/> of <paramref name="conversationId"/> to be due at
    /// <paramref name="at"/>; see <see cref="Schedule(IContext, string, int, TimeSpan)"/>.
    /// </summary>
    public static void Schedule(this IContext context, string name, int conversationId, DateTimeOffset at) =>
        Record(context, name, conversationId, at);

    /// <summary>
    /// Schedules the timer <paramref name="name"/> of <paramref name="conversationId"/> to be due once
    /// <paramref name="after"/>'s duration of opening hours of its calendar (<c>Calendars:NAME</c> in the
    /// configuration) has passed after the evaluation's clock; see <see cref="Schedule(IContext, string, int, TimeSpan)"/>.
    /// </summary>
    /// <example><code>Then().Do(ctx => ctx.Schedule("first-response", change.ConversationId, BusinessTime.After("support", TimeSpan.FromHours(4))));</code></example>
    /// <exception cref="ArgumentException">No calendar of that name is configured (the rule fails, naming the calendars there are).</exception>
    public static void Schedule(this IContext context, string name, int conversationId, BusinessTime after)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(after);
        var calendars = context.Resolve(typeof(IBusinessCalendars)) as IBusinessCalendars
            ?? throw new InvalidOperationException("No business calendars in this session.");
        Record(context, name, conversationId, calendars.Add(after.Calendar, Clock(context), after.Duration));
    }

    /// <summary>Cancels the pending timer <paramref name="name"/> of <paramref name="conversationId"/>, if there is one.</summary>
    public static void CancelTimer(this IContext context, string name, int conversationId) =>
        Record(context, name, conversationId, null);

    private static DateTimeOffset Clock(IContext context) => Subject(context).Clock;

    /// <summary>The conversation and the clock of what is being evaluated: a delivery (its receipt) or a timer (its due time).</summary>
    private static (int ConversationId, DateTimeOffset Clock) Subject(IContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Resolve(typeof(Delivery)) is Delivery delivery)
        {
            return (delivery.ConversationId, delivery.ReceivedAt);
        }

        return context.Resolve(typeof(TimerElapsed)) is TimerElapsed timer
            ? (timer.ConversationId, timer.DueAt)
            : throw new InvalidOperationException("No delivery or timer is being processed in this session.");
    }

    private static void Record(IContext context, string name, int conversationId, DateTimeOffset? dueAt)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Length > TimerChange.MaxNameLength)
        {
            throw new ArgumentException($"A timer's name has at most {TimerChange.MaxNameLength} characters.", nameof(name));
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(conversationId);
        context.TryInsert(new TimerChange(context.Rule.Name, name, conversationId, dueAt));
    }
}
