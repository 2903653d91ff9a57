using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Benchmark 2: one delivery through the rules, from the parsed payload to action intents:
/// <see cref="EvaluationPipeline.Evaluate"/> with a <see cref="Delivery"/> built from an already parsed
/// conversation (convo.status, closed) and a <see cref="PriorState"/> that says active, so the
/// built-in rules derive a StatusChanged and the matching ops rules enqueue intents.
/// <see cref="OpsRules"/> = 0 is the built-in rules alone (4 rules); 200 adds 20 generated files of
/// 10 ops rules (target: median ≤ 20 µs).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(RunStrategy.Throughput, warmupCount: 3, iterationCount: 15)]
public class EvaluateBenchmarks
{
    private RuleSetGeneration _rules = null!;
    private string _folder = "";
    private Delivery _delivery = null!;
    private PriorState _prior = null!;

    /// <summary>Generated ops rules next to the 4 built-in ones.</summary>
    [Params(0, 200)]
    public int OpsRules { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_folder, _rules, _delivery, _prior) = RuleSetup.Create(OpsRules);
    }

    [GlobalCleanup]
    public void Cleanup() => RuleSetup.Dispose(_folder, _rules);

    /// <summary>Fresh session, insert delivery and prior state, fire, query the derived facts.</summary>
    [Benchmark(Description = "Evaluate one delivery")]
    public object Evaluate() => Inputs.Evaluate(_rules, _delivery, _prior);
}

/// <summary>Compiles a benchmark rules folder and checks that the benchmark delivery does what it should in it.</summary>
internal static class RuleSetup
{
    public static (string Folder, RuleSetGeneration Rules, Delivery Delivery, PriorState Prior) Create(int opsRules, bool concise = false)
    {
        var folder = global::FreeScoutRules.Benchmarks.OpsRules.WriteRulesFolder(opsRules, concise);
        var rules = RuleSetCompiler.Compile(folder);
        var (delivery, prior) = Inputs.ParsedDelivery();

        var evaluation = Inputs.Evaluate(rules, delivery, prior);
        var expectedIntents = opsRules == 200 ? global::FreeScoutRules.Benchmarks.OpsRules.ExpectedIntents : -1;
        if (rules.Rules.Count != opsRules + 4
            || evaluation.StatusChanges.Count != 1
            || evaluation.NextState is null
            || (expectedIntents >= 0 && evaluation.Intents.Count != expectedIntents)
            || (opsRules == 0 && evaluation.Intents.Count != 0))
        {
            throw new InvalidOperationException(
                $"Unexpected evaluation with {rules.Rules.Count} rules: {evaluation.StatusChanges.Count} status changes, "
                + $"{evaluation.Intents.Count} intents, fired: {string.Join(", ", evaluation.RulesFired)}");
        }

        Console.WriteLine(
            $"// Rules folder {folder}: {rules.Rules.Count} rules; the benchmark delivery fires {evaluation.RulesFired.Count} "
            + $"({string.Join(", ", evaluation.RulesFired)}) and records {evaluation.Intents.Count} intents.");
        return (folder, rules, delivery, prior);
    }

    public static void Dispose(string folder, RuleSetGeneration? rules)
    {
        rules?.Unload();
        if (folder.Length > 0 && Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
