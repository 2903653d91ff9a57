namespace FreeScoutRules.Engine.Storage;

/// <summary>A timer as stored: pending until it fires, or replaced, or cancelled.</summary>
/// <remarks>Number: how many times this name was scheduled for the conversation (1 for the first).</remarks>
internal sealed record StoredTimer(
    int ConversationId, string Name, int Number, DateTimeOffset DueAt, string State, string Rule, long? DeliveryId, DateTimeOffset SetAt, DateTimeOffset? FiredAt);

/// <summary>
/// Which timers <see cref="ITimers.ListAsync"/> returns: of a conversation or all, due before a time or whenever, in
/// one state (<see cref="TimerState"/>; pending by default) or, with <c>null</c>, any.
/// </summary>
internal sealed record TimerFilter(int? ConversationId = null, DateTimeOffset? DueBefore = null, int Limit = 100, string? State = TimerState.Pending);

/// <summary>The states of a timer.</summary>
internal static class TimerState
{
    public const string Pending = "pending";

    /// <summary>Its due time came: it was stored as a <c>timer.elapsed</c> delivery of its conversation, which runs its rules.</summary>
    public const string Fired = "fired";

    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Pending, Fired, Cancelled];
}
