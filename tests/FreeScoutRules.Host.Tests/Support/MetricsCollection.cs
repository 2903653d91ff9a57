namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// Tests that assert what <c>/metrics</c> shows. OpenTelemetry subscribes to meters by name across the
/// whole process, so while two engines run at once in this test process (one per test class), one may
/// export the other's instruments. These classes run after the parallel ones, one at a time. A real
/// process runs one engine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsCollection
{
    public const string Name = "asserts /metrics";
}
