using FreeScoutRules.Host.Tests.Support;

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

    [Fact]
    public async Task PackedTool_Installs_AndRunsWithItsBuiltInPlugins()
    {
        var artifacts = Path.Combine(_root, "artifacts");
        var tools = Path.Combine(_root, "tools");
        var rules = Directory.CreateDirectory(Path.Combine(_root, "rules")).FullName;
        File.Copy(Path.Combine(RepositoryCommands.Root, "rules.sample.csx"), Path.Combine(rules, "notify.csx"));

        var pack = await RepositoryCommands.RunAsync("dotnet", RepositoryCommands.Root, null, "pack", "engine/FreeScoutRules.Host", "-c", "Release", "-o", artifacts, "--nologo", "-v", "q");
        Assert.True(pack.ExitCode == 0, pack.Output);
        var install = await RepositoryCommands.RunAsync("dotnet", _root, null, "tool", "install", "freescout-rules", "--tool-path", tools, "--add-source", artifacts);
        Assert.True(install.ExitCode == 0, install.Output);
        var plugins = Directory.CreateDirectory(Path.Combine(_root, "plugins")).FullName;
        var check = await RepositoryCommands.RunAsync(Path.Combine(tools, "freescout-rules"), _root, new Dictionary<string, string> { ["Secrets__support_hook_token"] = "the sample's secret" }, "check", "--rules", rules, "--plugins", plugins);

        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("2 actions (freescout, http), 0 plugins not loaded", check.Output, StringComparison.Ordinal);
        Assert.Contains("5 rules in 2 files compiled, 0 warnings, 0 errors", check.Output, StringComparison.Ordinal);
        Assert.Contains("notify-support-on-close  (notify.csx)", check.Output, StringComparison.Ordinal);
    }
}
