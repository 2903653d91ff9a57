using FreeScoutRules.Engine.Parsing;

namespace FreeScoutRules.Engine.JsonLines;

/// <summary>One line of a deliveries file: its 1-based line number and either a parse result or a problem with the line itself.</summary>
internal sealed record DeliveryLine(int LineNumber, string? Event, ParseResult Result);
