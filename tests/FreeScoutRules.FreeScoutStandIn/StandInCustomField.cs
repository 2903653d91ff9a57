namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>One item of a conversation's <c>customFields</c>: <c>{id, name, value, text}</c>; <paramref name="Value"/> is always a string (a dropdown's option id), <paramref name="Text"/> a dropdown's label or "".</summary>
public sealed record StandInCustomField(int Id, string Name, string Value, string Text = "");
