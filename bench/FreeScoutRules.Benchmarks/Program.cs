using BenchmarkDotNet.Running;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Runs the benchmarks chosen on the command line, for example
/// <c>dotnet run -c Release --project bench/FreeScoutRules.Benchmarks -- --filter '*'</c>.
/// </summary>
internal static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
