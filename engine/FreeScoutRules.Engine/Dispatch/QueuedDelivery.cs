using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// A stored delivery waiting in its conversation's lane. Fresh ones carry the conversation parsed at
/// ingestion; recovered ones carry the stored body, parsed again when their turn comes.
/// </summary>
internal sealed record QueuedDelivery(
    long Id, string Event, int ConversationId, long Sequence, DateTimeOffset ReceivedAt,
    Conversation? Conversation, byte[]? Body, int Attempts = 0);
