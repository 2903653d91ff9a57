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

/// <summary>A stored delivery waiting for dispatch, with its body to parse again.</summary>
internal sealed record StoredPendingDelivery(long Id, string Event, byte[] Body, int ConversationId, long Sequence, DateTimeOffset ReceivedAt, int Attempts)
{
    /// <summary>The stored body parsed again into the fact rules see, or <c>null</c> with the reason it is not a conversation.</summary>
    public FreeScoutRules.Facts.Delivery? ToDelivery(Parsing.DeliveryParser parser, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(parser);
        var parsed = parser.Parse(Event, Body);
        problem = parsed.Problem?.Message ?? (parsed.Delivery?.Conversation is null ? "The stored body is not a conversation." : null);
        return parsed.Delivery?.Conversation is { } conversation
            ? new FreeScoutRules.Facts.Delivery(Id.ToString(System.Globalization.CultureInfo.InvariantCulture), Event, ReceivedAt, conversation)
            : null;
    }
}

/// <summary>Filter and page of <see cref="DeliveryQueries.ListAsync"/>.</summary>
internal sealed record DeliveryFilter(
    int? ConversationId = null, string? Outcome = null, DateTimeOffset? Since = null, DateTimeOffset? Until = null,
    int Page = 1, int PageSize = 50);
