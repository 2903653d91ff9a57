using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Storage;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Instances;

/// <summary>What the live instances run during a rules rollout, and when a mix has lasted too long for <c>/readyz</c>.</summary>
public sealed class RulesRolloutTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 9, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(T0);

    [Fact]
    public void TwoGenerationsAtOnce_AreAMix_SinceTheFirstLook_AndAProblemOnlyPastTheTolerance()
    {
        var rollout = new RulesRollout(_time);

        rollout.Observe([Instance(1, "rules-1", "aaaaaaaaaaaaaaaa"), Instance(2, "rules-2", "aaaaaaaaaaaaaaaa")]);
        Assert.Null(rollout.MixedSince);
        Assert.Single(rollout.InForce);

        _time.Advance(TimeSpan.FromMinutes(1));
        rollout.Observe([Instance(1, "rules-1", "aaaaaaaaaaaaaaaa"), Instance(2, "rules-2", "bbbbbbbbbbbbbbbb"), Instance(3, "rules-3", "bbbbbbbbbbbbbbbb")]);
        var mixedAt = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromMinutes(9));
        rollout.Observe([Instance(1, "rules-1", "aaaaaaaaaaaaaaaa"), Instance(2, "rules-2", "bbbbbbbbbbbbbbbb"), Instance(3, "rules-3", "bbbbbbbbbbbbbbbb")]);

        Assert.Equal(mixedAt, rollout.MixedSince);
        Assert.Equal([("bbbbbbbbbbbbbbbb", 2), ("aaaaaaaaaaaaaaaa", 1)], rollout.InForce.Select(g => (g.Generation, g.Instances.Count)));
        Assert.Null(rollout.Problem(TimeSpan.FromMinutes(10)));
        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(
            "Rules: the instances have run 2 rule generations at once since 2026-12-05 09:01:00Z (bbbbbbbbbbbb on rules-2, rules-3; aaaaaaaaaaaa on rules-1), "
            + "longer than Rules:MaxGenerationSkew (00:10:00): deploy the same rules folder to every instance.",
            rollout.Problem(TimeSpan.FromMinutes(10)));
        Assert.Null(rollout.Problem(TimeSpan.Zero)); // off

        rollout.Observe([Instance(1, "rules-1", "bbbbbbbbbbbbbbbb"), Instance(2, "rules-2", "bbbbbbbbbbbbbbbb"), Instance(3, "rules-3", "bbbbbbbbbbbbbbbb")]);
        Assert.Null(rollout.MixedSince);
        Assert.Null(rollout.Problem(TimeSpan.FromMinutes(10)));
    }

    [Fact]
    public void InstancesNotAlive_OrThatRecordedNoGeneration_DoNotCount()
    {
        var rollout = new RulesRollout(_time);

        rollout.Observe([Instance(1, "rules-1", "aaaa"), Instance(2, "dead", "bbbb", alive: false), Instance(3, "starting", null)]);

        Assert.Equal(["aaaa"], rollout.InForce.Select(g => g.Generation));
        Assert.Null(rollout.MixedSince);
    }

    private InstanceRecord Instance(long id, string name, string? generation, bool alive = true) =>
        new(id, name, T0, _time.GetUtcNow(), _time.GetUtcNow().AddSeconds(5), null, alive) { RulesGeneration = generation };
}
