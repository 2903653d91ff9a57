namespace FreeScoutRules.Engine.Parsing;

/// <summary>Options of <see cref="DeliveryParser"/>.</summary>
internal sealed record DeliveryParserOptions
{
    /// <summary>
    /// Accept event names FreeScout itself never sends, as custom Workflows "Trigger Webhook" events
    /// whose body is a conversation. Default <c>false</c>: an unknown name is refused, since a typo
    /// in a webhook subscription should be noticed, not silently processed.
    /// </summary>
    public bool AcceptCustomEvents { get; init; }

    /// <summary>
    /// Accept <c>reconciliation</c>, the engine's own snapshots read from FreeScout's REST API (stored deliveries,
    /// <c>test</c> lines). Default <c>false</c>: ingestion refuses the name from outside.
    /// </summary>
    public bool AcceptReconciled { get; init; }
}
