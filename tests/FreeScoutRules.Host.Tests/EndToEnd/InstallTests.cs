using System.Diagnostics;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>The README's install steps: pack the host as a .NET tool, install it, and run it.</summary>
public sealed class InstallTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-install-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static string Repository()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "FreeScoutRules.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("The repository root (FreeScoutRules.sln) is not above the tests.");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["Secrets__support_hook_token"] = "the sample's secret";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    [Fact]
    public async Task PackedTool_Installs_AndRunsWithItsBuiltInPlugins()
    {
        var artifacts = Path.Combine(_root, "artifacts");
        var tools = Path.Combine(_root, "tools");
        var rules = Directory.CreateDirectory(Path.Combine(_root, "rules")).FullName;
        File.Copy(Path.Combine(Repository(), "rules.sample.csx"), Path.Combine(rules, "notify.csx"));

        var pack = await RunAsync("dotnet", Repository(), "pack", "engine/FreeScoutRules.Host", "-c", "Release", "-o", artifacts, "--nologo", "-v", "q");
        Assert.True(pack.ExitCode == 0, pack.Output);
        var install = await RunAsync("dotnet", _root, "tool", "install", "freescout-rules", "--tool-path", tools, "--add-source", artifacts);
        Assert.True(install.ExitCode == 0, install.Output);
        var plugins = Directory.CreateDirectory(Path.Combine(_root, "plugins")).FullName;
        var check = await RunAsync(Path.Combine(tools, "freescout-rules"), _root, "check", "--rules", rules, "--plugins", plugins);

        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("2 actions (freescout, http), 0 plugins not loaded", check.Output, StringComparison.Ordinal);
        Assert.Contains("5 rules in 2 files compiled, 0 warnings, 0 errors", check.Output, StringComparison.Ordinal);
        Assert.Contains("notify-support-on-close  (notify.csx)", check.Output, StringComparison.Ordinal);
    }
}
