using System.Globalization;
using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Instances;

/// <summary>
/// The rule generations the live instances run (each records its own: <see cref="ILeases.RecordRulesAsync"/>), as this
/// instance last saw them. During a rollout, instances run two generations at once for a while: each delivery records
/// the one it ran under, and a timer one generation schedules may fire where the other is in force
/// (docs/deploy.md, "PostgreSQL"). A mix that lasts is a rollout that stopped half-way: <see cref="Problem"/> says so
/// (for <c>/readyz</c>) past a tolerance. Thread-safe.
/// </summary>
internal sealed class RulesRollout(TimeProvider time)
{
    private volatile State _state = new([], null);

    /// <summary>The generations in force among the live instances, each with the instances running it (most run first).</summary>
    public IReadOnlyList<GenerationInForce> InForce => _state.InForce;

    /// <summary>Since when the live instances run more than one generation; <c>null</c> while they agree.</summary>
    public DateTimeOffset? MixedSince => _state.MixedSince;

    /// <summary>Takes what the store says of the instances: the live ones, with the generation each recorded.</summary>
    public void Observe(IEnumerable<InstanceRecord> instances)
    {
        ArgumentNullException.ThrowIfNull(instances);
        IReadOnlyList<GenerationInForce> inForce =
        [
            .. instances.Where(i => i.Alive && i.RulesGeneration is not null)
                .GroupBy(i => i.RulesGeneration!, StringComparer.Ordinal)
                .Select(g => new GenerationInForce(g.Key, [.. g.Select(i => i.Name)]))
                .OrderByDescending(g => g.Instances.Count).ThenBy(g => g.Generation, StringComparer.Ordinal),
        ];
        var before = _state;
        _state = new State(inForce, inForce.Count > 1 ? before.MixedSince ?? time.GetUtcNow() : null);
    }

    /// <summary>
    /// What <c>/readyz</c> says when the live instances have run different generations for longer than
    /// <paramref name="tolerance"/> (a rollout that stopped half-way), or <c>null</c>. Zero tolerance: never.
    /// </summary>
    public string? Problem(TimeSpan tolerance)
    {
        var state = _state;
        if (tolerance <= TimeSpan.Zero || state.MixedSince is not { } since || time.GetUtcNow() - since <= tolerance)
        {
            return null;
        }

        var which = string.Join("; ", state.InForce.Select(g => $"{g.Generation[..Math.Min(12, g.Generation.Length)]} on {string.Join(", ", g.Instances)}"));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"Rules: the instances have run {state.InForce.Count} rule generations at once since {since:u} ({which}), longer than Rules:MaxGenerationSkew ({tolerance}): deploy the same rules folder to every instance.");
    }

    private sealed record State(IReadOnlyList<GenerationInForce> InForce, DateTimeOffset? MixedSince);
}

/// <summary>A rule generation (its content hash) and the live instances running it.</summary>
internal sealed record GenerationInForce(string Generation, IReadOnlyList<string> Instances);
