using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Issue 23: one delivery through 200 concise rules (<c>OpsRule</c>, <c>On.…</c>) against the same 200 rules written in
/// NRules' DSL (<see cref="EvaluateBenchmarks"/>' generated folder), in the same run: <see cref="OpsRules.WriteRulesFolder"/>
/// writes both from the same teams, conditions and actions, and the same 9 rules fire with the same intents on the
/// benchmark delivery. Target: the concise rules within 10% of the class rules.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(RunStrategy.Throughput, warmupCount: 3, iterationCount: 15)]
public class ConciseEvaluateBenchmarks
{
    private string _classFolder = "";
    private string _conciseFolder = "";
    private RuleSetGeneration _classRules = null!;
    private RuleSetGeneration _conciseRules = null!;
    private Delivery _delivery = null!;
    private PriorState _prior = null!;

    [GlobalSetup]
    public void Setup()
    {
        (_classFolder, _classRules, _delivery, _prior) = RuleSetup.Create(200);
        (_conciseFolder, _conciseRules, _, _) = RuleSetup.Create(200, concise: true);
        var ofClasses = Inputs.Evaluate(_classRules, _delivery, _prior);
        var ofConcise = Inputs.Evaluate(_conciseRules, _delivery, _prior);
        // The same intents; NRules' agenda may fire rules of equal priority in another order.
        if (!ofClasses.Intents.Select(i => (i.Rule, i.Action, i.Arguments)).Order().SequenceEqual(ofConcise.Intents.Select(i => (i.Rule, i.Action, i.Arguments)).Order()))
        {
            throw new InvalidOperationException(
                "The concise rules do not record the class rules' intents: "
                + string.Join("; ", ofConcise.Intents.Select(i => $"{i.Rule} {i.Arguments}")) + " against " + string.Join("; ", ofClasses.Intents.Select(i => $"{i.Rule} {i.Arguments}")));
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        RuleSetup.Dispose(_classFolder, _classRules);
        RuleSetup.Dispose(_conciseFolder, _conciseRules);
    }

    [Benchmark(Baseline = true, Description = "200 class rules (NRules' DSL)")]
    public object ClassRules() => Inputs.Evaluate(_classRules, _delivery, _prior);

    [Benchmark(Description = "200 concise rules (OpsRule)")]
    public object ConciseRules() => Inputs.Evaluate(_conciseRules, _delivery, _prior);
}
