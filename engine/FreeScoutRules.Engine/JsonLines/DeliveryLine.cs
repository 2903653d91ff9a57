using FreeScoutRules.Engine.Parsing;

namespace FreeScoutRules.Engine.JsonLines;

/// <summary>
/// One line of a deliveries file: its 1-based line number and either a parse result or a problem with the line itself,
/// with the arrival time the line gives (<c>"at"</c>); or a clock line (<c>{"clock": "…"}</c>, <see cref="Clock"/> set, no delivery).
/// </summary>
internal sealed record DeliveryLine(int LineNumber, string? Event, ParseResult Result, DateTimeOffset? At = null, DateTimeOffset? Clock = null)
{
    /// <summary>A line that only moves time forward: timers due by then fire.</summary>
    public bool IsClock => Clock is not null;
}
