using System.Diagnostics;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>Runs the real <c>freescout-rules</c> executable (built next to the tests) as a child process.</summary>
internal static class CliProcess
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public string[] OutputLines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    public static Task<Result> RunAsync(string? standardInput, params string[] arguments) => RunWithEnvironmentAsync(null, standardInput, arguments);

    /// <summary>
    /// Runs the executable with <paramref name="environment"/> on top of a clean one: the child never sees
    /// the <c>FREESCOUTRULES_*</c> variables another test may have set in this process.
    /// </summary>
    public static Task<Result> RunWithEnvironmentAsync(IReadOnlyDictionary<string, string>? environment, string? standardInput, params string[] arguments) =>
        RunInAsync(AppContext.BaseDirectory, environment, standardInput, arguments);

    /// <summary>As <see cref="RunWithEnvironmentAsync"/>, in <paramref name="workingDirectory"/> (for relative paths as a user types them).</summary>
    public static async Task<Result> RunInAsync(string workingDirectory, IReadOnlyDictionary<string, string>? environment, string? standardInput, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var variable in start.Environment.Keys.Where(k => k.StartsWith("FREESCOUTRULES_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(variable);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "freescout-rules.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await output, await error);
    }
}
