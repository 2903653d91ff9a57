using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>
/// The <c>dotnet new</c> templates (templates/, README "Templates") as a user gets them: the template package packed from
/// the repository and installed into a template hive of its own (<c>--debug:custom-hive</c>: the user's templates are
/// not touched), each template instantiated once, and what it makes run with this build. The rules repository's own CI
/// script (<c>.ci/check.sh</c>, with this build's <c>freescout-rules</c> on PATH) passes as generated, and fails on a
/// rule that does not compile at the rule's file, line and column, and on a changed intent with a diff. The plugin
/// restores FreeScoutRules.Abstractions through the <c>nuget.config</c> the template writes, from the folder the
/// repository's <c>dotnet pack</c> of it fills (as a user outside the repository does), builds, passes its own tests,
/// and its build output in a plugins folder gives <c>check --plugins</c> its action and its settings' problems.
/// Nothing is fetched: NuGet's other sources are cleared for the generated folders and the machine's package cache is a
/// read-only fallback (packages the repository's own restore put there); the plugin's restore writes only into a
/// package folder of the test's.
/// </summary>
public sealed partial class TemplatesTests(TemplatesTests.TemplatePackage package) : IClassFixture<TemplatesTests.TemplatePackage>
{
    /// <summary>This build's version, <c>0.8.0</c>: the tool's, which the templates must name.</summary>
    private static string HostVersion()
    {
        var version = AssemblyName.GetAssemblyName(Path.Combine(AppContext.BaseDirectory, "freescout-rules.dll")).Version!;
        return $"{version.Major}.{version.Minor}.{version.Build}";
    }

    [Fact]
    public async Task RulesRepository_PassesItsOwnCi_AndFailsItOnABrokenRuleAtItsLine()
    {
        // Made without the bot user: its settings.json says where to set it, and check warns until it is set.
        var unsetRepository = await package.InstantiateAsync("fsr-rules", "ops-rules-without-bot");
        Assert.Contains("// \"BotUserId\": 7", await File.ReadAllTextAsync(Path.Combine(unsetRepository, "settings.json")), StringComparison.Ordinal);
        var unset = await package.RunCiScriptAsync(unsetRepository);
        Assert.True(unset.ExitCode == 0, unset.Output);
        Assert.Contains("warning FSR0012: Rule 'NotifySupportOnClose' excludes our own writes", unset.Output, StringComparison.Ordinal); // .NotByBot() needs it

        // Made with the bot user (an id no recorded delivery's thread has), which settings.json holds for check and test.
        var repository = await package.InstantiateAsync("fsr-rules", "ops-rules", "--bot-user-id", "99999");
        Assert.Contains("\"BotUserId\": 99999", await File.ReadAllTextAsync(Path.Combine(repository, "settings.json")), StringComparison.Ordinal);
        var workflow = await File.ReadAllTextAsync(Path.Combine(repository, ".github", "workflows", "rules.yml"));
        Assert.Contains($"dotnet tool install --global freescout-rules --version {HostVersion()} ", workflow, StringComparison.Ordinal);
        Assert.Contains("run: bash .ci/check.sh", workflow, StringComparison.Ordinal);

        // As the workflow runs it.
        var ci = await package.RunCiScriptAsync(repository);

        Assert.True(ci.ExitCode == 0, ci.Output);
        Assert.Contains("rules: 8 rules in 3 files compiled, 0 warnings, 0 errors", ci.Output, StringComparison.Ordinal);
        Assert.Contains("NotifySupportOnClose  (notify-on-close.csx)", ci.Output, StringComparison.Ordinal);
        Assert.Contains("send-survey  (survey.csx)", ci.Output, StringComparison.Ordinal);
        Assert.Contains("tests/send-and-close.expected.jsonl: matches (9 lines).", ci.Output, StringComparison.Ordinal);
        Assert.Contains("tests/survey.expected.jsonl: matches (10 lines).", ci.Output, StringComparison.Ordinal);

        // A rule that records another intent: test --expect fails with the difference.
        var rule = Path.Combine(repository, "rules", "notify-on-close.csx");
        var source = await File.ReadAllTextAsync(rule);
        await File.WriteAllTextAsync(rule, source.Replace("https://hooks.example.com/support", "https://hooks.example.com/ops", StringComparison.Ordinal));
        var changed = await CliProcess.RunInAsync(repository, null, null,
            "test", "--config", "settings.json", "--rules", "rules", "--events", "tests/send-and-close.jsonl", "--expect", "tests/send-and-close.expected.jsonl");

        Assert.True(changed.ExitCode == 1, changed.Output + changed.Error);
        Assert.Contains("tests/send-and-close.expected.jsonl: the output differs (- expected, + actual):", changed.Output, StringComparison.Ordinal);
        Assert.Contains("- {\"kind\":\"action\",\"line\":6,\"rule\":\"NotifySupportOnClose\",\"action\":\"http\",\"conversationId\":1187,\"arguments\":{\"url\":\"https://hooks.example.com/support\"", changed.Output, StringComparison.Ordinal);
        Assert.Contains("+ {\"kind\":\"action\",\"line\":6,\"rule\":\"NotifySupportOnClose\",\"action\":\"http\",\"conversationId\":1187,\"arguments\":{\"url\":\"https://hooks.example.com/ops\"", changed.Output, StringComparison.Ordinal);

        // A rule that does not compile: CI stops at check, which names the file, line and column of the mistake.
        var at = source.IndexOf("On.Close()", StringComparison.Ordinal);
        var line = source[..at].Count(c => c == '\n') + 1;
        var column = at - source.LastIndexOf('\n', at) + "On.".Length;
        await File.WriteAllTextAsync(rule, source.Replace("On.Close()", "On.Clsoe()", StringComparison.Ordinal));
        var broken = await package.RunCiScriptAsync(repository);

        Assert.Equal(2, broken.ExitCode);
        Assert.Contains($"rules/notify-on-close.csx({line},{column}): error CS0117: 'On' does not contain a definition for 'Clsoe'", broken.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("matches", broken.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ActionPlugin_BuildsAndPassesItsTests_AndTheEngineLoadsItsAction()
    {
        // What a user outside the repository does first: pack the abstractions into a folder (here from the build
        // the tests run on) and name that folder when making the plugin.
        var feed = Path.Combine(package.Root, "freescout-rules-packages");
        var configuration = typeof(TemplatesTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BuildConfiguration").Value!;
        var pack = await RepositoryCommands.RunAsync("dotnet", RepositoryCommands.Root, null,
            "pack", "engine/FreeScoutRules.Abstractions", "-c", configuration, "--no-build", "-o", feed, "--nologo", "-v", "q");
        Assert.True(pack.ExitCode == 0, pack.Output);
        Assert.True(File.Exists(Path.Combine(feed, $"FreeScoutRules.Abstractions.{HostVersion()}.nupkg")), string.Join(", ", Directory.GetFiles(feed)));

        var plugin = await package.InstantiateAsync("fsr-plugin", "plugin", "--name", "Contoso.OpsPager", "--action", "ops-pager", "--feed", feed);
        Assert.Contains($"value=\"{feed}\"", await File.ReadAllTextAsync(Path.Combine(plugin, "nuget.config")), StringComparison.Ordinal);
        Assert.Contains("\"OPS_PAGER_URL\"", await File.ReadAllTextAsync(Path.Combine(plugin, "src", "Contoso.OpsPager", "PagerSettings.cs")), StringComparison.Ordinal);

        var test = await RepositoryCommands.RunAsync("dotnet", plugin, package.NuGetEnvironment, "test");

        Assert.True(test.ExitCode == 0, test.Output);
        Assert.Matches(@"passed: Failed:\s+0, Passed:\s+[1-9]", test.Output);
        var output = Path.Combine(plugin, "src", "Contoso.OpsPager", "bin", "Debug", "net10.0");
        Assert.Equal(
            ["Contoso.OpsPager.deps.json", "Contoso.OpsPager.dll", "Contoso.OpsPager.pdb", "Contoso.OpsPager.runtimeconfig.json"],
            Directory.GetFiles(output).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));

        // Dropped into a plugins folder as the README says, beside a rules folder holding the README's rule.
        var plugins = Directory.CreateDirectory(Path.Combine(package.Root, "action-plugins", "Contoso.OpsPager")).FullName;
        foreach (var file in Directory.GetFiles(output))
        {
            File.Copy(file, Path.Combine(plugins, Path.GetFileName(file)));
        }

        var rules = Directory.CreateDirectory(Path.Combine(package.Root, "plugin-rules")).FullName;
        var readme = await File.ReadAllTextAsync(Path.Combine(plugin, "README.md"));
        await File.WriteAllTextAsync(Path.Combine(rules, "page-on-urgent-reply.csx"), CodeBlock().Match(readme).Groups[1].Value);
        var unconfigured = await CliProcess.RunWithEnvironmentAsync(null, null, "check", "--rules", rules, "--plugins", Path.GetDirectoryName(plugins)!);
        var configured = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string> { ["OPS_PAGER_URL"] = "https://alerts.example.com/api/messages", ["OPS_PAGER_TOKEN"] = "a-token" },
            null, "check", "--rules", rules, "--plugins", Path.GetDirectoryName(plugins)!);

        Assert.True(unconfigured.ExitCode == 0, unconfigured.Output + unconfigured.Error);
        Assert.Contains("plugins: 3 actions (freescout, http, ops-pager), 0 plugins not loaded", unconfigured.Output, StringComparison.Ordinal);
        Assert.Contains("PageOnUrgentReply  (page-on-urgent-reply.csx)", unconfigured.Output, StringComparison.Ordinal);
        Assert.Matches(@"page-on-urgent-reply\.csx\(\d+,\d+\): warning FSR0008: The plugin of the action 'ops-pager' is not ready: OPS_PAGER_URL is not set: .*; OPS_PAGER_TOKEN is not set", unconfigured.Output + unconfigured.Error);
        Assert.DoesNotContain("FSR0003", unconfigured.Output + unconfigured.Error, StringComparison.Ordinal);
        Assert.True(configured.ExitCode == 0, configured.Output + configured.Error);
        Assert.Contains("5 rules in 2 files compiled, 0 warnings, 0 errors", configured.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// The plugin template's packages are the ones this repository restores (so a machine that built the repository
    /// has them), and the versions the templates and the README's install lines name are this build's.
    /// </summary>
    [Fact]
    public void Templates_NameThisRepositorysPackageVersions()
    {
        var central = XDocument.Load(Path.Combine(RepositoryCommands.Root, "Directory.Packages.props")).Descendants("PackageVersion")
            .ToDictionary(p => (string)p.Attribute("Include")!, p => (string)p.Attribute("Version")!);
        var template = Path.Combine(RepositoryCommands.Root, "templates", "action-plugin");
        var references = Directory.GetFiles(template, "*.csproj", SearchOption.AllDirectories)
            .SelectMany(p => XDocument.Load(p).Descendants("PackageReference"))
            .Select(r => ((string)r.Attribute("Include")!, (string)r.Attribute("Version")!))
            .ToList();

        Assert.Contains(("FreeScoutRules.Abstractions", HostVersion()), references);
        Assert.All(references.Where(r => r.Item1 != "FreeScoutRules.Abstractions"), r =>
            Assert.True(central.GetValueOrDefault(r.Item1) == r.Item2, $"templates/action-plugin references {r.Item1} {r.Item2}; Directory.Packages.props has {central.GetValueOrDefault(r.Item1) ?? "none"}: keep them the same"));
        foreach (var project in new[] { "engine/FreeScoutRules.Abstractions/FreeScoutRules.Abstractions.csproj", "templates/FreeScoutRules.Templates.csproj" })
        {
            Assert.Equal(HostVersion(), XDocument.Load(Path.Combine(RepositoryCommands.Root, project)).Descendants("VersionPrefix").Single().Value);
        }

        Assert.Contains($"dotnet new install artifacts/FreeScoutRules.Templates.{HostVersion()}.nupkg", File.ReadAllText(Path.Combine(RepositoryCommands.Root, "README.md")), StringComparison.Ordinal);
    }

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    /// <summary>The template package, packed from the repository and installed into a hive of its own; all removed afterwards.</summary>
    public sealed class TemplatePackage : IAsyncLifetime
    {
        public string Root { get; } = Path.Combine(Path.GetTempPath(), $"fsr-templates-{Guid.NewGuid():N}");

        private string Hive => Path.Combine(Root, "hive");

        /// <summary>Where the generated folders go: under a nuget.config that clears every source but those the generated folders name.</summary>
        private string Work => Path.Combine(Root, "work");

        /// <summary>NuGet's package folder for the generated projects: the test's own, so nothing lands in the machine's.</summary>
        public IReadOnlyDictionary<string, string> NuGetEnvironment => new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(Root, "nuget-packages") };

        public async Task InitializeAsync()
        {
            Directory.CreateDirectory(Work);
            var packages = Path.Combine(Root, "template-package");
            var pack = await RepositoryCommands.RunAsync("dotnet", RepositoryCommands.Root, null,
                "pack", "templates/FreeScoutRules.Templates.csproj", "-o", packages, "--artifacts-path", Path.Combine(Root, "template-build"), "--nologo", "-v", "q");
            Assert.True(pack.ExitCode == 0, pack.Output);
            var nupkg = Path.Combine(packages, $"FreeScoutRules.Templates.{HostVersion()}.nupkg");
            var install = await RepositoryCommands.RunAsync("dotnet", Root, null, "new", "install", nupkg, "--debug:custom-hive", Hive);
            Assert.True(install.ExitCode == 0, install.Output);

            // The machine's package cache stands in for nuget.org, read only: what the repository's own restore put there.
            var cache = (await RepositoryCommands.RunAsync("dotnet", Root, null, "nuget", "locals", "global-packages", "--list")).Output.Trim();
            cache = cache[(cache.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            Assert.True(Directory.Exists(cache), cache);
            // A FreeScoutRules.Abstractions of this version in that cache (restored by hand from an earlier build of the same
            // version) would be taken before the one the test packs from this build: it is only a cache entry, so it goes.
            var stale = Path.Combine(cache, "freescoutrules.abstractions", HostVersion());
            if (Directory.Exists(stale))
            {
                Directory.Delete(stale, recursive: true);
            }
            await File.WriteAllTextAsync(Path.Combine(Work, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                  </packageSources>
                  <fallbackPackageFolders>
                    <add key="machine" value="{cache}" />
                  </fallbackPackageFolders>
                </configuration>
                """);

            // freescout-rules on PATH is this build's CLI, as the installed tool would be.
            var bin = Directory.CreateDirectory(Path.Combine(Root, "bin")).FullName;
            var shim = Path.Combine(bin, "freescout-rules");
            await File.WriteAllTextAsync(shim, $"#!/bin/sh\nexec dotnet \"{Path.Combine(AppContext.BaseDirectory, "freescout-rules.dll")}\" \"$@\"\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        public Task DisposeAsync()
        {
            if (Directory.Exists(Root))
            {
                Directory.Delete(Root, recursive: true);
            }

            return Task.CompletedTask;
        }

        /// <summary><c>dotnet new SHORTNAME -o work/OUTPUT ARGS</c> from the test's hive; the folder made.</summary>
        public async Task<string> InstantiateAsync(string shortName, string output, params string[] arguments)
        {
            var folder = Path.Combine(Work, output);
            var result = await RepositoryCommands.RunAsync("dotnet", Work, null,
                ["new", shortName, "-o", folder, "--no-update-check", "--debug:custom-hive", Hive, .. arguments]);
            Assert.True(result.ExitCode == 0, result.Output);
            return folder;
        }

        /// <summary>The rules repository's CI script, as the workflow runs it, with this build's CLI as <c>freescout-rules</c>.</summary>
        public Task<(int ExitCode, string Output)> RunCiScriptAsync(string repository, IReadOnlyDictionary<string, string>? environment = null) =>
            RepositoryCommands.RunAsync(
                "bash", repository,
                new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["PATH"] = $"{Path.Combine(Root, "bin")}:{Environment.GetEnvironmentVariable("PATH")}" },
                ".ci/check.sh");
    }
}
