namespace FreeScoutRules.Engine.Rules;

/// <summary>One rule in a compiled generation and the file it came from.</summary>
internal sealed record CompiledRule(string Name, string File);
