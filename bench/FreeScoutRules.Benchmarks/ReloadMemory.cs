using System.Globalization;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// <c>-- reload-memory [N]</c>: compiles the rules folder N times (the built-in rules plus 10 ops
/// rules, from a warm compile cache as a running server would after one changed file), evaluates a
/// delivery on each generation, swaps it in and unloads the previous one, printing managed memory
/// after a full collection and the number of loaded assemblies every N/10 reloads. Flat figures mean
/// old generations are collected.
/// </summary>
internal static class ReloadMemory
{
    public static void Run(int reloads)
    {
        var rules = OpsRules.WriteRulesFolder(10);
        var cache = new RuleCompileCache(Path.Combine(Path.GetTempPath(), $"fsr-reload-cache-{Guid.NewGuid():N}"));
        var (delivery, prior) = Inputs.ParsedDelivery();
        var holder = new RuleSetHolder();
        Console.WriteLine("reloads  managed MB  assemblies");
        for (var i = 1; i <= reloads; i++)
        {
            var generation = RuleSetCompiler.Compile(rules, cache);
            Inputs.Evaluate(generation, delivery, prior);
            holder.Set(generation)?.Unload();
            if (i % Math.Max(1, reloads / 10) == 0)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{i,7}  {GC.GetTotalMemory(forceFullCollection: true) / 1048576.0,10:F1}  {AppDomain.CurrentDomain.GetAssemblies().Length,10}"));
            }
        }

        Directory.Delete(rules, recursive: true);
        Directory.Delete(cache.Directory, recursive: true);
    }
}
