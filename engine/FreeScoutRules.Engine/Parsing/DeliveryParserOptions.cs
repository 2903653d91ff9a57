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
}
