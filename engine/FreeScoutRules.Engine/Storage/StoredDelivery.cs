namespace FreeScoutRules.Engine.Storage;

/// <summary>A stored delivery as the admin API shows it (never the body).</summary>
internal sealed record DeliveryRecord(
    long Id,
    string Event,
    int? ConversationId,
    long? Sequence,
    DateTimeOffset ReceivedAt,
    string Outcome,
    int Attempts,
    string? Error,
    DateTimeOffset? ProcessedAt,
    DeliveryResult? Result,
    string? RulesGeneration);

/// <summary>
/// A stored conversation delivery with its raw body: what dispatch, re-runs, <c>replay</c> and
/// <c>explain</c> read back. <see cref="Result"/> is what processing recorded, when it is done.
/// <see cref="Body"/> is <c>null</c> once retention pruned it (<c>Retention:Bodies</c>).
/// </summary>
internal sealed record StoredDelivery(
    long Id, string Event, byte[]? Body, int ConversationId, long Sequence, DateTimeOffset ReceivedAt, int Attempts,
    string Outcome = DeliveryOutcome.Pending, DeliveryResult? Result = null)
{
    /// <summary>
    /// The conversation its producer parsed, when the store kept it (the in-memory store keeps it with the body; SQLite
    /// keeps bytes only): read instead of parsing <see cref="Body"/> again (the pipeline's <c>PipelineInput</c>).
    /// </summary>
    public FreeScout.Conversation? Parsed { get; init; }
}

/// <summary>Filter and page of <see cref="IDeliveryHistory.ListAsync"/>; <see cref="RuleFailed"/>: only those on which a rule failed (or none did).</summary>
/// <remarks><see cref="Event"/>: one event name; <see cref="BeforeId"/>: keyset paging, the deliveries older than this one (then <see cref="Page"/> stays 1).</remarks>
internal sealed record DeliveryFilter(
    int? ConversationId = null, string? Outcome = null, DateTimeOffset? Since = null, DateTimeOffset? Until = null,
    int Page = 1, int PageSize = 50, bool? RuleFailed = null, string? Event = null, long? BeforeId = null);

/// <summary>A delivery to store: verified and parsed, with its raw bytes (kept for audit and replay).</summary>
/// <remarks>ConversationId: Its conversation, or <c>null</c> for events that run no rules (customers).</remarks>
/// <remarks>Body: read by <see cref="IInbox.StoreAsync"/> before it returns its task, never after: the caller may reuse the buffer (a pooled one) once it has the task.</remarks>
internal sealed record NewDelivery(string Event, ReadOnlyMemory<byte> Body, byte[] BodySha256, int? ConversationId, DateTimeOffset ReceivedAt)
{
    /// <summary>The conversation as its producer parsed it, passed on in the <see cref="WorkHint"/> (dispatch then need not parse the body again).</summary>
    public FreeScout.Conversation? Parsed { get; init; }
}

/// <summary>The outcome of storing a delivery: its id, its place in its conversation, and whether it was a redelivery.</summary>
internal sealed record StoreResult(long DeliveryId, bool Duplicate, long? Sequence);

/// <summary>The <c>outcome</c> of a delivery.</summary>
internal static class DeliveryOutcome
{
    /// <summary>Stored, waiting for (or between attempts of) dispatch.</summary>
    public const string Pending = "pending";

    /// <summary>Processed: its state, status changes and intents are committed.</summary>
    public const string Done = "done";

    /// <summary>Stored for audit but runs no rules (customer events).</summary>
    public const string Skipped = "skipped";

    /// <summary>Its built-in status rules failed every attempt; visible and re-runnable, no longer blocking its conversation.</summary>
    public const string Parked = "parked";

    public static readonly IReadOnlyList<string> All = [Pending, Done, Skipped, Parked];
}
