using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// What the engine knows about one conversation between deliveries: its known status with the
/// <c>updatedAt</c> it came with (<see cref="Known"/>), and the action intents its rules queued
/// recently (for the runaway-rule limit). Immutable: processing a delivery makes the next one.
/// </summary>
internal sealed record KnownConversation(int ConversationId, PriorState? Known, IReadOnlyList<RecentIntent> RecentIntents)
{
    /// <summary>Nothing is known about the conversation.</summary>
    public static KnownConversation Unknown(int conversationId) => new(conversationId, null, []);

    /// <summary>Intents of <paramref name="rule"/> whose deliveries arrived at or after <paramref name="since"/>.</summary>
    public int CountRecent(string rule, DateTimeOffset since)
    {
        var count = 0;
        foreach (var intent in RecentIntents)
        {
            if (intent.At >= since && string.Equals(intent.Rule, rule, StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }
}

/// <summary>An intent a rule queued for a conversation, dated by the arrival of the delivery that caused it.</summary>
internal sealed record RecentIntent(string Rule, DateTimeOffset At);
