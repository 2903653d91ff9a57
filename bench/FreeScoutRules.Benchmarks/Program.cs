using BenchmarkDotNet.Running;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Runs the benchmarks chosen on the command line, for example
/// <c>dotnet run -c Release --project bench/FreeScoutRules.Benchmarks -- --filter '*'</c>, or the
/// reload memory check: <c>-- reload-memory 1000</c>.
/// </summary>
internal static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["reload-memory", ..])
        {
            ReloadMemory.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1000);
            return;
        }

        if (args is ["dispatch-overhead", ..])
        {
            DispatchOverhead.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5_000).GetAwaiter().GetResult();
            return;
        }

        if (args is ["storage-cost", ..])
        {
            StorageCost.RunAsync(
                args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 50_000,
                durable: args is not [_, _, "not-durable"]).GetAwaiter().GetResult();
            return;
        }

        if (args is ["concise-vs-class", ..])
        {
            ConciseVsClass.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200);
            return;
        }

        if (args is ["action-throughput", ..])
        {
            ActionThroughput.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20_000).GetAwaiter().GetResult();
            return;
        }

        if (args is ["fill-database", var directory, ..])
        {
            FillDatabase.RunAsync(directory, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5_000_000).GetAwaiter().GetResult();
            return;
        }

        if (args is ["fill-timers", var timersDirectory, ..])
        {
            FillTimers.RunAsync(
                timersDirectory,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000,
                args.Length > 3 ? double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : TimeSpan.FromDays(30).TotalSeconds).GetAwaiter().GetResult();
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
