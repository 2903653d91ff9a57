namespace FreeScoutRules.Engine.Storage;

/// <summary>A place in the deliveries, by arrival (ties broken by id), for retention to go on from.</summary>
internal sealed record RetentionCursor(DateTimeOffset ReceivedAt, long Id);
