using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>The real <c>freescout-rules check</c> process.</summary>
public sealed class CheckCommandTests : IDisposable
{
    private readonly string _rules = Path.Combine(Path.GetTempPath(), $"fsr-check-{Guid.NewGuid():N}");

    public CheckCommandTests()
    {
        Directory.CreateDirectory(_rules);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules", "status-change.csx"), Path.Combine(_rules, "status-change.csx"));
    }

    public void Dispose() => Directory.Delete(_rules, recursive: true);

    [Fact]
    public async Task Check_GoodRules_ListsThemAndExitsZero()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(_rules, "notify.csx"));

        var result = await CliProcess.RunAsync(null, "check", "--rules", _rules);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("5 rules in 2 files compiled, 0 warnings, 0 errors", result.OutputLines[0], StringComparison.Ordinal);
        Assert.Contains("notify-support-on-close  (notify.csx)", result.OutputLines);
    }

    [Fact]
    public async Task Check_BrokenRules_PrintsEveryDiagnosticAndExitsNonZero()
    {
        var broken = Path.Combine(_rules, "broken.csx");
        await File.WriteAllTextAsync(broken, "public class A : Rule { public override void Define() { undefinedThing(); } }\nint x = \"no\";\n");

        var result = await CliProcess.RunAsync(null, "check", "--rules", _rules);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{broken}(1,57): error CS0103: The name 'undefinedThing' does not exist in the current context", result.ErrorLines);
        Assert.Contains(result.ErrorLines, l => l.StartsWith($"{broken}(2,9): error CS0029:", StringComparison.Ordinal));
        Assert.EndsWith(": 2 errors, 0 warnings", result.ErrorLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_EngineDiagnostics_FollowTheSeverityOption()
    {
        var typo = Path.Combine(_rules, "typo.csx");
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

        var warning = await CliProcess.RunAsync(null, "check", "--rules", _rules);
        var error = await CliProcess.RunAsync(null, "check", "--rules", _rules, "--severity", "FSR0002=error");
        var bad = await CliProcess.RunAsync(null, "check", "--rules", _rules, "--severity", "FSR0002=fatal");

        Assert.Equal(0, warning.ExitCode);
        Assert.Contains(warning.ErrorLines, l => l.StartsWith($"{typo}(6,", StringComparison.Ordinal) && l.Contains(": warning FSR0002: 'clsoed' is not a conversation status", StringComparison.Ordinal));
        Assert.Equal(2, error.ExitCode);
        Assert.Contains(error.ErrorLines, l => l.Contains(": error FSR0002:", StringComparison.Ordinal));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("must be error, warning or none", bad.Error, StringComparison.Ordinal);
    }
}
