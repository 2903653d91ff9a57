using System.Globalization;

namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>
/// The stand-in as a program for benchmarks (README.md): seeds generated conversations and serves until Ctrl+C or SIGTERM.
/// <c>--urls URL --api-key KEY --conversations N [--from ISO] [--step-seconds S]</c>.
/// </summary>
internal static class Program
{
    private const string Usage =
        "usage: FreeScoutRules.FreeScoutStandIn [--urls http://127.0.0.1:5099] [--api-key KEY] [--conversations 10000] [--from 2026-01-01T00:00:00Z] [--step-seconds 1]";

    public static async Task<int> Main(string[] args)
    {
        var url = "http://127.0.0.1:5099";
        var apiKey = "test-api-key";
        var conversations = 10_000;
        var from = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var stepSeconds = 1.0;
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                await Console.Out.WriteLineAsync(Usage);
                return 0;
            }

            if (i + 1 >= args.Length)
            {
                return await FailAsync($"{name} needs a value");
            }

            var value = args[++i];
            var ok = name switch
            {
                "--urls" => Set(value, out url),
                "--api-key" => Set(value, out apiKey),
                "--conversations" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out conversations),
                "--from" => DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out from),
                "--step-seconds" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out stepSeconds) && stepSeconds >= 0,
                _ => false,
            };
            if (!ok)
            {
                return await FailAsync($"cannot use {name} {value}");
            }
        }

        // --urls may list several addresses (a;b), as ASP.NET Core's own option does.
        await using var standIn = await FreeScoutStandIn.StartAsync(apiKey, url);
        standIn.PutAll(FreeScoutStandIn.Generate(conversations, from, TimeSpan.FromSeconds(stepSeconds)));
        await Console.Out.WriteLineAsync($"FreeScout stand-in on {standIn.Address.ToString().TrimEnd('/')} with {standIn.Count} conversations");
        await standIn.WaitForShutdownAsync();
        return 0;
    }

    private static bool Set(string value, out string target)
    {
        target = value;
        return value.Length > 0;
    }

    private static async Task<int> FailAsync(string message)
    {
        await Console.Error.WriteLineAsync($"{message}\n{Usage}");
        return 2;
    }
}
