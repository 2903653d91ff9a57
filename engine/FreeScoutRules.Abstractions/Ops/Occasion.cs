using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Ops;

/// <summary>
/// What a concise rule (<see cref="OpsRule"/>) fired on, as its own lambdas see it (<c>c</c> in
/// <c>.Post(url, c =&gt; new { text = $"#{c.Number} closed" })</c> and <c>.Where(c =&gt; …)</c>): the status change, the
/// delivery or the timer, and the conversation they are about. Immutable.
/// </summary>
public sealed class Occasion
{
    internal Occasion(StatusChanged? change, Delivery? delivery, TimerElapsed? timer)
    {
        Change = change;
        Delivery = delivery;
        Timer = timer;
    }

    /// <summary>The status change, in a rule <c>On.StatusChange</c>, <c>On.Close</c> or <c>On.Reopen</c>; else <c>null</c>.</summary>
    public StatusChanged? Change { get; }

    /// <summary>The delivery being evaluated (with a status change too); <c>null</c> in a rule <c>On.Timer</c>.</summary>
    public Delivery? Delivery { get; }

    /// <summary>The timer that fell due, in a rule <c>On.Timer</c>; else <c>null</c>.</summary>
    public TimerElapsed? Timer { get; }

    /// <summary>The conversation's internal id.</summary>
    public int ConversationId => Change?.ConversationId ?? Delivery?.ConversationId ?? Timer!.ConversationId;

    /// <summary>
    /// The ticket number people see; for a timer whose conversation has no known snapshot (retention deleted its
    /// body), the conversation's id.
    /// </summary>
    public int Number => Change?.Number ?? Delivery?.Conversation.Number ?? Timer!.Snapshot?.Number ?? Timer.ConversationId;

    /// <summary>
    /// The conversation as FreeScout last described it: the delivery's snapshot, or for a timer the latest known one
    /// (<see cref="TimerElapsed.Snapshot"/>, <c>null</c> when none is known).
    /// </summary>
    public Conversation? Conversation => Delivery?.Conversation ?? Timer?.Snapshot;

    /// <summary>
    /// The conversation's status: the new one of a status change, the delivery's, or for a timer the known one
    /// (<see cref="TimerElapsed.KnownStatus"/>, <c>null</c> when none is known).
    /// </summary>
    public string? Status => Change?.To ?? Delivery?.Status ?? Timer!.KnownStatus;

    /// <summary>The delivery's event (<see cref="WebhookEvents"/>), or <see cref="EngineEvents.TimerElapsed"/> for a timer.</summary>
    public string Event => Delivery?.Event ?? EngineEvents.TimerElapsed;

    public override string ToString() => Change?.ToString() ?? Delivery?.ToString() ?? Timer!.ToString();
}
