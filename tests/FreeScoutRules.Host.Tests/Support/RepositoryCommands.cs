using System.Diagnostics;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// The repository the tests run from, and commands run as a user runs them there (<c>dotnet pack</c>, <c>dotnet new</c>,
/// <c>git</c>, a built tool): for the tests of what the README tells users to do (install, templates) and of builds the
/// tests make themselves (<see cref="PreviousRelease"/>).
/// </summary>
internal static class RepositoryCommands
{
    /// <summary>The repository's root: the folder above the tests that holds <c>FreeScoutRules.sln</c>.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>
    /// Runs <paramref name="file"/> and returns its exit code and its output (standard output, then error). None of this
    /// process's <c>FREESCOUTRULES_*</c> variables is passed on (a user's shell has none), the .NET CLI's notices are off,
    /// and no MSBuild node is left running after a build (it would keep the output open, and outlive the tests).
    /// </summary>
    /// <param name="environment">Variables on top of this process's.</param>
    public static async Task<(int ExitCode, string Output)> RunAsync(
        string file, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var variable in start.Environment.Keys.Where(k => k.StartsWith("FREESCOUTRULES_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(variable);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not end within 5 minutes.");
        }

        // A nested test run's summary would be counted by .ci/run's tally if a failure message carried it: reworded.
        var text = (await output + await error).Replace("Passed!  -", "passed:", StringComparison.Ordinal).Replace("Failed!  -", "failed:", StringComparison.Ordinal);
        return (process.ExitCode, text);
    }

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "FreeScoutRules.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("The repository root (FreeScoutRules.sln) is not above the tests.");
    }
}
