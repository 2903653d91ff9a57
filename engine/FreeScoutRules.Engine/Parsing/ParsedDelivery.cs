using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Parsing;

/// <summary>A delivery whose body parsed and validated: exactly one of the payloads is set.</summary>
internal sealed record ParsedDelivery(string Event, Conversation? Conversation, Customer? Customer)
{
    /// <summary>True when the body is a conversation (every <c>convo.*</c> and custom Workflows event).</summary>
    public bool IsConversationEvent => Conversation is not null;
}
