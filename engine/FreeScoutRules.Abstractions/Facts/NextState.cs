namespace FreeScoutRules.Facts;

/// <summary>
/// Fact inserted by the built-in rules: the known state to record once this delivery is
/// processed. When no rule inserts it (a stale delivery), the known state stays as it was.
/// </summary>
public sealed record NextState(int ConversationId, string Status, DateTimeOffset UpdatedAt);
