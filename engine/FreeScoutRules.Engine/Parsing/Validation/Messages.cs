namespace FreeScoutRules.Engine.Parsing.Validation;

/// <summary>Validation message templates; the parser puts the field's JSON path in front of each.</summary>
internal static class Messages
{
    public const string PositiveId = "must be a positive integer (got {PropertyValue}; a missing field reads as 0)";
    public const string Required = "is required";
}
