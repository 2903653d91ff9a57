using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>The real <c>freescout-rules check</c> process.</summary>
public sealed class CheckCommandTests() : CliTestBase(withSampleRule: false)
{
    [Fact]
    public async Task Check_GoodRules_ListsThemAndExitsZero()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(RulesDirectory, "notify.csx"));

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("5 rules in 2 files compiled, 0 warnings, 0 errors", result.OutputLines[0], StringComparison.Ordinal);
        Assert.Contains("notify-support-on-close  (notify.csx)", result.OutputLines);
        // Without --plugins the actions the rules name are not checked: it says so, and how.
        Assert.Equal("Actions not checked: add --plugins DIR (the server's plugins folder) to check each action the rules name exists and is configured (FSR0003, FSR0008).", result.OutputLines[^1]);
    }

    [Fact]
    public async Task Check_APluginsFolderThatDoesNotExist_ChecksAgainstTheBuiltInActions_AsTheServerRuns_AndSaysSo()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(RulesDirectory, "notify.csx"));
        File.WriteAllText(Path.Combine(RulesDirectory, "page.csx"), "public class Page() : OpsRule(On.Close().Do(\"pager\"));\n");
        var missing = Path.Combine(RulesDirectory, "no-such-plugins");

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--plugins", missing);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            $"--plugins {missing}: there is no such folder: checked against the built-in actions alone, as the server runs while its plugins folder does not exist (give the folder the server loads its action plugins from).",
            result.ErrorLines[0]);
        Assert.Contains(result.ErrorLines, l => l.Contains("warning FSR0003: No plugin provides the action 'pager'", StringComparison.Ordinal)); // an action of the plugins it did not find
        Assert.Equal($"{missing}: 2 actions (freescout, http), 0 plugins not loaded", result.OutputLines[0]);
    }

    [Fact]
    public async Task Check_AFileThatDoesNotCompile_AlsoGetsTheEnginesChecks_EveryMistakeInOnePass()
    {
        var broken = Path.Combine(RulesDirectory, "broken.csx");
        await File.WriteAllTextAsync(broken, """
            public class A() : OpsRule(On.Event("convo.stauts").Post("https://hooks.example.com/a", c => new { a = 1 }));
            public class B() : OpsRule(On.StatusChange(to: "closd").SetTag("x"));
            public class C() : OpsRule(On.Close().Do("pagr", c => new { a = 1 }));
            public class D : Rule { public override void Define() { When().Match<Delivery>(d => d.Event == "convo.stauts" && ); Then().Do(ctx => ctx.Enqueue("http", new { })); } }
            """);
        var plugins = Directory.CreateDirectory(Path.Combine(RulesDirectory, "..", Path.GetFileName(RulesDirectory) + "-plugins")).FullName;
        try
        {
            var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--plugins", plugins);

            Assert.Equal(2, result.ExitCode);
            Assert.Contains(result.ErrorLines, l => l.StartsWith($"{broken}(2,", StringComparison.Ordinal) && l.Contains("error CS1061", StringComparison.Ordinal)); // the compiler's
            Assert.Contains(result.ErrorLines, l => l.StartsWith($"{broken}(4,", StringComparison.Ordinal) && l.Contains("error CS1525", StringComparison.Ordinal)); // a syntax error
            Assert.Contains(result.ErrorLines, l => l.StartsWith($"{broken}(1,", StringComparison.Ordinal) && l.Contains("error FSR0001", StringComparison.Ordinal) && l.Contains("did you mean 'convo.status'?", StringComparison.Ordinal));
            Assert.Contains(result.ErrorLines, l => l.StartsWith($"{broken}(2,", StringComparison.Ordinal) && l.Contains("warning FSR0002", StringComparison.Ordinal));
            Assert.Contains(result.ErrorLines, l => l.StartsWith($"{broken}(3,", StringComparison.Ordinal) && l.Contains("warning FSR0003: No plugin provides the action 'pagr'", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(plugins, recursive: true);
        }
    }

    [Fact]
    public async Task Check_BrokenRules_PrintsEveryDiagnosticAndExitsNonZero()
    {
        var broken = Path.Combine(RulesDirectory, "broken.csx");
        await File.WriteAllTextAsync(broken, "public class A : Rule { public override void Define() { undefinedThing(); } }\nint x = \"no\";\n");

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{broken}(1,57): error CS0103: The name 'undefinedThing' does not exist in the current context", result.ErrorLines);
        Assert.Contains(result.ErrorLines, l => l.StartsWith($"{broken}(2,9): error CS0029:", StringComparison.Ordinal));
        Assert.EndsWith(": 2 errors, 0 warnings", result.ErrorLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_EngineDiagnostics_FollowTheSeverityOption()
    {
        var typo = Path.Combine(RulesDirectory, "typo.csx");
        await File.WriteAllTextAsync(typo, """
            public class Typo : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.To == "clsoed");
                    Then().Do(ctx => ctx.Enqueue("x"));
                }
            }
            """);

        var warning = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory);
        var error = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--severity", "FSR0002=error");
        var bad = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--severity", "FSR0002=fatal");

        Assert.Equal(0, warning.ExitCode);
        Assert.Contains(warning.ErrorLines, l => l.StartsWith($"{typo}(6,", StringComparison.Ordinal) && l.Contains(": warning FSR0002: 'clsoed' is not a conversation status", StringComparison.Ordinal));
        Assert.Equal(2, error.ExitCode);
        Assert.Contains(error.ErrorLines, l => l.Contains(": error FSR0002:", StringComparison.Ordinal));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("must be error, warning or none", bad.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_WithPlugins_ReportsActionsNoPluginProvides_AndBrokenPlugins()
    {
        var plugins = Path.Combine(RulesDirectory, "..", $"plugins-{Guid.NewGuid():N}");
        Directory.CreateDirectory(plugins);
        SamplePlugin.DropInto(plugins);
        var rule = Path.Combine(RulesDirectory, "actions.csx");
        await File.WriteAllTextAsync(rule, """
            public class Two : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("sample-notify", new { url = "http://x", text = "t" }))
                          .Do(ctx => ctx.Enqueue("sample-notfy"));
                }
            }
            """);

        try
        {
            var warning = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--plugins", plugins);
            var error = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--plugins", plugins, "--severity", "FSR0003=error");
            await File.WriteAllTextAsync(Path.Combine(plugins, "broken.dll"), "not a dll");
            var broken = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--plugins", plugins);

            Assert.Equal(0, warning.ExitCode);
            Assert.Contains("3 actions (freescout, http, sample-notify), 0 plugins not loaded", warning.OutputLines[0], StringComparison.Ordinal);
            var diagnostic = Assert.Single(warning.ErrorLines, l => l.Contains("FSR0003", StringComparison.Ordinal));
            Assert.StartsWith($"{rule}(8,", diagnostic, StringComparison.Ordinal);
            Assert.Contains("warning FSR0003: No plugin provides the action 'sample-notfy' (loaded: freescout, http, sample-notify); did you mean 'sample-notify'?", diagnostic, StringComparison.Ordinal);
            Assert.Equal(2, error.ExitCode);
            Assert.Equal(2, broken.ExitCode);
            Assert.Contains(broken.ErrorLines, l => l.EndsWith("broken.dll: error FSR0200: not a .NET assembly (or built for another platform).", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(plugins, recursive: true);
        }
    }

    [Fact]
    public async Task Check_RuleUsingAnUnconfiguredPlugin_IsWarnedAboutWithWhatToSet()
    {
        File.WriteAllText(Path.Combine(RulesDirectory, "note.csx"), """
            public class NoteOnClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("freescout", new { operation = "note", conversationId = change.ConversationId, text = "closed" }));
                }
            }
            """);
        var plugins = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"fsr-plugins-{Guid.NewGuid():N}")).FullName;
        try
        {
            var secretOnly = SampleRule.Environment.Where(v => v.Key.StartsWith("Secrets__", StringComparison.Ordinal)).ToDictionary();
            var unconfigured = await CliProcess.RunWithEnvironmentAsync(secretOnly, null, "check", "--rules", RulesDirectory, "--plugins", plugins);
            var configured = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "check", "--rules", RulesDirectory, "--plugins", plugins);

            Assert.Equal(0, unconfigured.ExitCode);
            var warning = Assert.Single(unconfigured.ErrorLines, l => l.Contains("FSR0008", StringComparison.Ordinal));
            Assert.Contains("note.csx(7,", warning, StringComparison.Ordinal);
            Assert.Contains("warning FSR0008: The plugin of the action 'freescout' is not ready: the FreeScout connection is not configured: set FREESCOUTRULES_FREESCOUT_URL", warning, StringComparison.Ordinal);
            Assert.Contains("FREESCOUTRULES_FREESCOUT_API_KEY", warning, StringComparison.Ordinal);
            Assert.DoesNotContain(configured.ErrorLines, l => l.Contains("FSR0008", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(plugins, recursive: true);
        }
    }
}
