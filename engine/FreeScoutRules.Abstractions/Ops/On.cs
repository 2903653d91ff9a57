using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Linq.Expressions;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Ops;

/// <summary>
/// Where a concise rule starts (<see cref="OpsRule"/>): what it reacts to. Every method returns a declaration that
/// conditions and actions are added to: <c>On.Close().NotByBot().Post(…)</c>, <c>On.Timer("survey").WhenStatus(Closed).Post(…)</c>.
/// </summary>
[SuppressMessage("Naming", "CA1716:Identifiers should not match keywords", Justification = "Rule files are C#, where On reads as the sentence it starts.")]
public static class On
{
    /// <summary>
    /// A status change (derived exactly once per real change by the built-in status rules, whichever event revealed it):
    /// to <paramref name="to"/>, from <paramref name="from"/> and revealed by the event <paramref name="via"/>, each when
    /// given. Unknown spellings flow through as FreeScout sent them (and <c>check</c> warns, FSR0002).
    /// </summary>
    public static OnStatusChange StatusChange(string? to = null, string? from = null, string? via = null)
    {
        var conditions = ImmutableArray.CreateBuilder<Expression<Func<StatusChanged, bool>>>();
        var call = new List<string>();
        if (to is not null)
        {
            conditions.Add(OpsDeclaration.Inline<StatusChanged>(c => c.To == to));
            call.Add($"to: {SourceText.Quote(to)}");
        }

        if (from is not null)
        {
            conditions.Add(OpsDeclaration.Inline<StatusChanged>(c => c.From == from));
            call.Add($"from: {SourceText.Quote(from)}");
        }

        if (via is not null)
        {
            conditions.Add(OpsDeclaration.Inline<StatusChanged>(c => c.Via == via));
            call.Add($"via: {SourceText.Quote(via)}");
        }

        return new OnStatusChange($"On.StatusChange({string.Join(", ", call)})", conditions.ToImmutable());
    }

    /// <summary>A conversation closed (a status change to <c>closed</c>).</summary>
    public static OnStatusChange Close() => new("On.Close()", [c => c.To == ConversationStatus.Closed]);

    /// <summary>A closed conversation became active again (a customer's reply, an agent reopening it).</summary>
    public static OnStatusChange Reopen() =>
        new("On.Reopen()", [c => c.From == ConversationStatus.Closed, c => c.To == ConversationStatus.Active]);

    /// <summary>A delivery of one of <paramref name="events"/> (<see cref="WebhookEvents"/>; unknown names draw FSR0001).</summary>
    public static OnEvent Event(params string[] events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Length == 0 || events.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("Name at least one event, none empty (WebhookEvents.…).", nameof(events));
        }

        var delivery = Expression.Parameter(typeof(Delivery), "d");
        var name = Expression.Property(delivery, nameof(Delivery.Event));
        var test = events.Select(e => (Expression)Expression.Equal(name, Expression.Constant(e))).Aggregate(Expression.OrElse);
        return new OnEvent(
            $"On.Event({string.Join(", ", events.Select(SourceText.Quote))})",
            [Expression.Lambda<Func<Delivery, bool>>(test, delivery)]);
    }

    /// <summary>A new conversation (<c>convo.created</c>).</summary>
    public static OnEvent NewConversation() => Event(WebhookEvents.ConversationCreated);

    /// <summary>A customer's reply (<c>convo.customer.reply.created</c>).</summary>
    public static OnEvent CustomerReply() => Event(WebhookEvents.CustomerReplyCreated);

    /// <summary>An agent's reply (<c>convo.agent.reply.created</c>).</summary>
    public static OnEvent AgentReply() => Event(WebhookEvents.AgentReplyCreated);

    /// <summary>
    /// A timer of one of these <paramref name="names"/> falling due, scheduled by a rule's <c>.Schedule(name, …)</c>
    /// (or <c>ctx.Schedule</c>). It runs in the conversation's turn, once per scheduling.
    /// </summary>
    public static OnTimer Timer(params string[] names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Length == 0 || names.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("Name at least one timer, none empty.", nameof(names));
        }

        var timer = Expression.Parameter(typeof(TimerElapsed), "t");
        var name = Expression.Property(timer, nameof(TimerElapsed.Name));
        var test = names.Select(n => (Expression)Expression.Equal(name, Expression.Constant(n))).Aggregate(Expression.OrElse);
        return new OnTimer(
            $"On.Timer({string.Join(", ", names.Select(SourceText.Quote))})",
            [Expression.Lambda<Func<TimerElapsed, bool>>(test, timer)]);
    }
}
