using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Facts;

/// <summary>
/// Fact: a timer a rule scheduled (<c>ctx.Schedule</c>) is due. The engine runs the rules with it, in the
/// conversation's turn after every delivery stored before it fired, exactly once per scheduling. A session
/// holds either one <see cref="Delivery"/> or one <see cref="TimerElapsed"/>, never both; the conversation's
/// <see cref="PriorState"/> is there as for deliveries. Status changes are never derived from a timer.
/// Immutable.
/// </summary>
public sealed class TimerElapsed
{
    /// <summary>Creates the fact.</summary>
    public TimerElapsed(
        string id, string name, int conversationId, int number, DateTimeOffset dueAt, DateTimeOffset firedAt,
        string scheduledBy, string? knownStatus, Conversation? snapshot)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(scheduledBy);
        Id = id;
        Name = name;
        ConversationId = conversationId;
        Number = number;
        DueAt = dueAt;
        FiredAt = firedAt;
        ScheduledBy = scheduledBy;
        KnownStatus = knownStatus;
        Snapshot = snapshot;
    }

    /// <summary>Identifies the firing: its inbox id on the server, <c>timer:N</c> in <c>freescout-rules test</c>.</summary>
    public string Id { get; }

    /// <summary>The timer's name, as the rule scheduled it.</summary>
    public string Name { get; }

    public int ConversationId { get; }

    /// <summary>How many times this name was scheduled for the conversation (1 the first time): each scheduling fires at most once.</summary>
    public int Number { get; }

    /// <summary>When it was due.</summary>
    public DateTimeOffset DueAt { get; }

    /// <summary>When it fired: its due time, or later when the server was down or busy.</summary>
    public DateTimeOffset FiredAt { get; }

    /// <summary>How late it fired (never negative): a rule may skip a reminder that is a week late.</summary>
    public TimeSpan Lateness => FiredAt > DueAt ? FiredAt - DueAt : TimeSpan.Zero;

    /// <summary>The rule that scheduled it.</summary>
    public string ScheduledBy { get; }

    /// <summary>The conversation's known status when it fired (<see cref="ConversationStatus"/>), or <c>null</c> when none is known.</summary>
    public string? KnownStatus { get; }

    /// <summary>
    /// The conversation's latest snapshot as FreeScout sent it (the delivery the known state comes from), or
    /// <c>null</c> when none is known or retention deleted its body.
    /// </summary>
    public Conversation? Snapshot { get; }

    public override string ToString() => $"timer '{Name}' #{Number} of conversation {ConversationId} due {DueAt:O} ({Id})";
}
