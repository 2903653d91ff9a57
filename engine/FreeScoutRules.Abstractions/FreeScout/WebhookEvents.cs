namespace FreeScoutRules.FreeScout;

/// <summary>
/// The <c>X-FreeScout-Event</c> names that the API &amp; Webhooks module sends (v1.0.81–1.0.87).
/// Custom names from the Workflows module's "Trigger Webhook" action carry a conversation too.
/// </summary>
public static class WebhookEvents
{
    public const string ConversationCreated = "convo.created";
    public const string ConversationAssigned = "convo.assigned";
    public const string ConversationDeleted = "convo.deleted";
    public const string ConversationDeletedForever = "convo.deleted_forever";
    public const string ConversationRestored = "convo.restored";
    public const string ConversationMoved = "convo.moved";
    public const string ConversationStatus = "convo.status";
    public const string CustomerReplyCreated = "convo.customer.reply.created";
    public const string AgentReplyCreated = "convo.agent.reply.created";
    public const string NoteCreated = "convo.note.created";
    public const string CustomerCreated = "customer.created";
    public const string CustomerUpdated = "customer.updated";

    /// <summary>All twelve names FreeScout sends, in the module's order.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        ConversationAssigned, ConversationCreated, ConversationDeleted, ConversationDeletedForever,
        ConversationRestored, ConversationMoved, ConversationStatus, CustomerReplyCreated,
        AgentReplyCreated, NoteCreated, CustomerCreated, CustomerUpdated,
    ];

    /// <summary>True when FreeScout itself sends this name (case-sensitive, as FreeScout spells it).</summary>
    public static bool IsKnown(string? name) => name is not null && All.Contains(name, StringComparer.Ordinal);

    /// <summary>True for the two events whose body is a customer, not a conversation.</summary>
    public static bool IsCustomerEvent(string? name) => name is CustomerCreated or CustomerUpdated;
}
