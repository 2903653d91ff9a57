namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// The rule generation in force. Swapped atomically between deliveries: each delivery takes one
/// reference and runs entirely on that generation. Thread-safe.
/// </summary>
internal sealed class RuleSetHolder
{
    private RuleSetGeneration? _current;

    public bool IsLoaded => Volatile.Read(ref _current) is not null;

    public RuleSetGeneration Current => Volatile.Read(ref _current)
        ?? throw new InvalidOperationException("No rules are loaded yet.");

    /// <summary>Puts <paramref name="generation"/> in force and returns the one it replaces, if any.</summary>
    public RuleSetGeneration? Set(RuleSetGeneration generation) => Interlocked.Exchange(ref _current, generation);
}
