namespace FreeScoutRules.Engine.Ingestion;

/// <summary>What happened to one posted delivery.</summary>
internal enum IngestionStatus
{
    /// <summary>Stored durably; will be processed (202).</summary>
    Accepted,

    /// <summary>The same event with the same bytes was stored before; nothing new stored (200).</summary>
    Duplicate,

    /// <summary>Missing or wrong signature; nothing stored (401).</summary>
    BadSignature,

    /// <summary>An event FreeScout never sends; nothing stored (422).</summary>
    UnknownEvent,

    /// <summary>Not JSON, or not the JSON shape of the event; nothing stored (400).</summary>
    Malformed,

    /// <summary>JSON that fails validation; nothing stored (422).</summary>
    Invalid,
}

/// <summary>The status, the stored delivery's id when there is one, and the problem otherwise.</summary>
internal sealed record IngestionResult(IngestionStatus Status, long? DeliveryId = null, string? Problem = null);
