using FreeScoutRules.Engine.Rules;

namespace FreeScoutRules.Host.Server;

/// <summary>The rule generation in force. Swapped atomically; readers take a reference per delivery. Thread-safe.</summary>
internal sealed class RuleSetHolder
{
    private RuleSetGeneration? _current;

    public bool IsLoaded => Volatile.Read(ref _current) is not null;

    public RuleSetGeneration Current => Volatile.Read(ref _current)
        ?? throw new InvalidOperationException("No rules are loaded yet.");

    public void Set(RuleSetGeneration generation) => Volatile.Write(ref _current, generation);
}
