namespace FreeScoutRules.Facts;

/// <summary>
/// Fact: what was known about a conversation before this delivery: its last status and the
/// <c>updatedAt</c> that came with it. Absent from the session when nothing is known yet. Immutable.
/// </summary>
public sealed record PriorState(int ConversationId, string Status, DateTimeOffset UpdatedAt);
