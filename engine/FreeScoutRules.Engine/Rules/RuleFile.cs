namespace FreeScoutRules.Engine.Rules;

/// <summary>One rule in a compiled generation and the file it came from.</summary>
internal sealed record CompiledRule(string Name, string File)
{
    /// <summary>The fact types the rule's conditions match, for explaining why it did not fire.</summary>
    public IReadOnlyList<Type> FactTypes { get; init; } = [];
}
