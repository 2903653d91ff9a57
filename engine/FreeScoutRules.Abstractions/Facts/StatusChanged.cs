using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Facts;

/// <summary>
/// Fact derived by the built-in rules: the status of a conversation changed, exactly once per
/// real change, whichever event revealed it. Immutable.
/// </summary>
/// <param name="ConversationId">The conversation's internal id.</param>
/// <param name="Number">The ticket number people see.</param>
/// <param name="From">The previous status, or <c>null</c> when nothing was known before.</param>
/// <param name="To">The new status.</param>
/// <param name="Via">The event that revealed the change, for example <c>convo.status</c>.</param>
/// <param name="At">The conversation's <c>updatedAt</c> with the new status.</param>
/// <param name="By">Who made the change, when the payload says so (the closing user or the newest thread's author).</param>
public sealed record StatusChanged(
    int ConversationId, int Number, string? From, string To, string Via, DateTimeOffset At, Person? By)
{
    /// <summary>True when the conversation became closed.</summary>
    public bool IsClose => To == ConversationStatus.Closed;

    /// <summary>
    /// True when no webhook reported this change: reconciliation with FreeScout's REST API found it
    /// (<see cref="Via"/> is <see cref="EngineEvents.Reconciliation"/>). Usually a sign that webhooks are being lost.
    /// </summary>
    public bool IsFoundByReconciliation => Via == EngineEvents.Reconciliation;

    /// <summary>True when a closed conversation became active again.</summary>
    public bool IsReopen => From == ConversationStatus.Closed && To == ConversationStatus.Active;

    /// <summary>
    /// The change that <paramref name="delivery"/> reveals, from <paramref name="from"/> to the status
    /// of its snapshot. <see cref="By"/> is the closing user on a close, else the newest thread's author.
    /// </summary>
    public static StatusChanged Derive(Delivery delivery, string? from)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var conversation = delivery.Conversation;
        var by = delivery.Status == ConversationStatus.Closed && conversation.ClosedByUser is { } closer
            ? closer
            : delivery.LatestThread?.CreatedBy;
        return new StatusChanged(
            conversation.Id, conversation.Number, from, delivery.Status, delivery.Event, delivery.UpdatedAt, by);
    }
}
