namespace FreeScoutRules.Engine.Rules;

/// <summary>One rule in a compiled generation and the file it came from.</summary>
internal sealed record CompiledRule(string Name, string File)
{
    /// <summary>The fact types the rule's conditions match, for explaining why it did not fire.</summary>
    public IReadOnlyList<Type> FactTypes { get; init; } = [];

    /// <summary>Where the rule's class is declared, <c>file(line,col)</c>, for failures reported at run time.</summary>
    public string Location { get; init; } = File;

    /// <summary>
    /// One of the status rules (<c>status-change.csx</c>, built in or deliberately overridden): when one
    /// of them fails on a delivery, the delivery's status semantics are unknown and nothing of it commits.
    /// </summary>
    public bool BuiltIn { get; init; }

    /// <summary>Settings that change what this rule does (a rule matching <c>OwnWrite</c> depends on <c>Dispatch:BotUserId</c>).</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];
}
