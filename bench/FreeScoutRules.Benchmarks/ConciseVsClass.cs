using System.Diagnostics;
using System.Globalization;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Issue 23, for a shared machine: the 200 concise rules against the same 200 class rules (as
/// <see cref="ConciseEvaluateBenchmarks"/>), interleaved: each round evaluates the benchmark delivery a batch of times
/// with one rule set, then with the other (which goes first alternates), so a load that comes and goes hits both
/// alike. Prints each set's median of its rounds' means, and the median of the rounds' concise/class ratios.
/// <c>dotnet run -c Release --project bench/FreeScoutRules.Benchmarks -- concise-vs-class 200</c>.
/// </summary>
internal static class ConciseVsClass
{
    private const int Batch = 2_000;

    public static void Run(int rounds)
    {
        var (classFolder, classRules, delivery, prior) = RuleSetup.Create(200);
        var (conciseFolder, conciseRules, _, _) = RuleSetup.Create(200, concise: true);
        try
        {
            for (var i = 0; i < 5_000; i++)
            {
                Inputs.Evaluate(classRules, delivery, prior);
                Inputs.Evaluate(conciseRules, delivery, prior);
            }

            var ofClasses = new List<double>(rounds);
            var ofConcise = new List<double>(rounds);
            var ratios = new List<double>(rounds);
            for (var round = 0; round < rounds; round++)
            {
                double Measure(Engine.Rules.RuleSetGeneration rules)
                {
                    var watch = Stopwatch.StartNew();
                    for (var i = 0; i < Batch; i++)
                    {
                        Inputs.Evaluate(rules, delivery, prior);
                    }

                    return watch.Elapsed.TotalMicroseconds / Batch;
                }

                double c, k;
                if (round % 2 == 0)
                {
                    c = Measure(classRules);
                    k = Measure(conciseRules);
                }
                else
                {
                    k = Measure(conciseRules);
                    c = Measure(classRules);
                }

                ofClasses.Add(c);
                ofConcise.Add(k);
                ratios.Add(k / c);
            }

            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"{rounds} rounds of {Batch} evaluations each, interleaved:"));
            Console.WriteLine(string.Create(inv, $"  200 class rules:   median of round means {Median(ofClasses):0.00} µs (min {ofClasses.Min():0.00})"));
            Console.WriteLine(string.Create(inv, $"  200 concise rules: median of round means {Median(ofConcise):0.00} µs (min {ofConcise.Min():0.00})"));
            Console.WriteLine(string.Create(inv, $"  concise / class: median of the rounds' ratios {Median(ratios):0.000}, of the medians {Median(ofConcise) / Median(ofClasses):0.000}"));
        }
        finally
        {
            RuleSetup.Dispose(classFolder, classRules);
            RuleSetup.Dispose(conciseFolder, conciseRules);
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
