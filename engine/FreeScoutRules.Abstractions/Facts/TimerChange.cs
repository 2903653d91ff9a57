namespace FreeScoutRules.Facts;

/// <summary>
/// A rule's request to start, move or cancel a named timer of a conversation, recorded by
/// <c>ctx.Schedule</c> and <c>ctx.CancelTimer</c>; the engine stores it with the rest of the evaluation's
/// result, all or nothing. Scheduling a name again for the same conversation replaces the earlier timer.
/// Immutable.
/// </summary>
/// <param name="Rule">The rule that recorded it.</param>
/// <param name="Name">The timer's name, unique per conversation.</param>
/// <param name="ConversationId">The conversation it belongs to.</param>
/// <param name="DueAt">When it is due; <c>null</c> cancels the pending timer of that name.</param>
public sealed record TimerChange(string Rule, string Name, int ConversationId, DateTimeOffset? DueAt)
{
    /// <summary>The longest timer name, in characters.</summary>
    public const int MaxNameLength = 100;

    /// <summary>True when it cancels rather than schedules.</summary>
    public bool Cancels => DueAt is null;
}
