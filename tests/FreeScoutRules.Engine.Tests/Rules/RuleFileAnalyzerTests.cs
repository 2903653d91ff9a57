using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;

namespace FreeScoutRules.Engine.Tests.Rules;

/// <summary>The engine's own diagnostics FSR0001–FSR0005 on real rule files.</summary>
public sealed class RuleFileAnalyzerTests : IDisposable
{
    private readonly TempDirectory _rules = new();

    public void Dispose() => _rules.Dispose();

    private static string RuleWith(string condition, string action = "ctx.Enqueue(\"x\")") => $$"""
        public class Checked : Rule
        {
            public override void Define()
            {
                Delivery delivery = default!;
                StatusChanged change = default!;
                When().Match(() => delivery).Match(() => change, c => {{condition}});
                Then().Do(ctx => {{action}});
            }
        }
        """;

    private List<RuleDiagnostic> Diagnostics(string code, RuleDiagnosticSeverities? severities = null, RuleChecks? checks = null)
    {
        _rules.Write("checked.csx", code);
        try
        {
            return [.. RuleSetCompiler.Compile(_rules.Path, severities: severities, checks: checks).Warnings];
        }
        catch (RuleCompilationException ex)
        {
            return [.. ex.Diagnostics];
        }
    }

    [Fact]
    public void UnknownEventName_IsAnErrorWithASuggestion()
    {
        var diagnostic = Assert.Single(Diagnostics(RuleWith("delivery.Event == \"convo.stauts\"")));

        Assert.Equal("FSR0001", diagnostic.Id);
        Assert.True(diagnostic.IsError);
        Assert.Equal(7, diagnostic.Line);
        Assert.Contains("FreeScout never sends the event 'convo.stauts'; did you mean 'convo.status'?", diagnostic.Message, StringComparison.Ordinal);
        Assert.EndsWith("checked.csx", diagnostic.File, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownEventName_InAPattern_IsFoundToo()
    {
        var code = RuleWith("IsClose(c)").Replace(
            "public override void Define()", "static bool IsClose(StatusChanged c) => c.Via is \"convo.closed\";\n    public override void Define()", StringComparison.Ordinal);

        Assert.Equal("FSR0001", Assert.Single(Diagnostics(code)).Id);
    }

    [Fact]
    public void UnknownStatus_IsAWarningByDefault_AndCanBeMadeAnErrorOrSwitchedOff()
    {
        var code = RuleWith("c.To == \"clsoed\"");

        var warning = Assert.Single(Diagnostics(code));
        var error = Assert.Single(Diagnostics(code, RuleDiagnosticSeverities.With([new("FSR0002", "error")])));
        var none = Diagnostics(code, RuleDiagnosticSeverities.With([new("FSR0002", "none")]));

        Assert.Equal("FSR0002", warning.Id);
        Assert.False(warning.IsError);
        Assert.Contains("did you mean 'closed'?", warning.Message, StringComparison.Ordinal);
        Assert.True(error.IsError);
        Assert.Empty(none);
    }

    [Theory]
    [InlineData("System.IO.File.AppendAllText(\"/tmp/x\", \"y\")", "System.IO.File.AppendAllText")]
    [InlineData("new System.IO.FileStream(\"/tmp/x\", System.IO.FileMode.Open).Flush()", "System.IO.FileStream")]
    [InlineData("System.Threading.Thread.Sleep(10)", "System.Threading.Thread.Sleep")]
    [InlineData("System.Threading.Tasks.Task.Delay(10).Wait()", "System.Threading.Tasks.Task")]
    public void BlockingOrIoInARule_IsAnError(string action, string expected)
    {
        var diagnostics = Diagnostics(RuleWith("c.To == ConversationStatus.Closed", action));

        Assert.Contains(diagnostics, d => d.Id == "FSR0004" && d.IsError && d.Message.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void BlockingCallInAHelperMethodOfTheFile_IsFoundToo()
    {
        var code = RuleWith("c.To == ConversationStatus.Closed", "Save()").Replace(
            "public override void Define()", "static void Save() => System.IO.File.WriteAllText(\"/tmp/x\", \"y\");\n    public override void Define()", StringComparison.Ordinal);

        Assert.Contains(Diagnostics(code), d => d.Id == "FSR0004");
    }

    [Fact]
    public void Dynamic_IsAnError()
    {
        var code = RuleWith("c.To == ConversationStatus.Closed", "ctx.Enqueue(\"x\", Args())").Replace(
            "public override void Define()", "static object Args() { dynamic d = 1; return d; }\n    public override void Define()", StringComparison.Ordinal);

        Assert.Contains(Diagnostics(code), d => d.Id == "FSR0005" && d.IsError);
    }

    [Fact]
    public void KnownValues_AndConstants_RaiseNothing()
    {
        Assert.Empty(Diagnostics(RuleWith("c.To == ConversationStatus.Closed && c.Via == WebhookEvents.ConversationStatus && delivery.Event == \"convo.note.created\"")));
    }

    [Fact]
    public void SeverityOverrides_RefuseUnknownIdsAndLevels()
    {
        Assert.Throws<ArgumentException>(() => RuleDiagnosticSeverities.With([new("FSR9999", "error")]));
        Assert.Throws<ArgumentException>(() => RuleDiagnosticSeverities.With([new("FSR0001", "fatal")]));
    }

    [Fact]
    public void ActionOfAnUnreadyPlugin_AndAnUnknownSecret_AreWarnedAbout()
    {
        var checks = new RuleChecks(
            new HashSet<string>(["http", "freescout"]),
            new Dictionary<string, string> { ["freescout"] = "FREESCOUTRULES_FREESCOUT_URL is not set" },
            new HashSet<string>(["hook_token"]));

        var unready = Assert.Single(Diagnostics(RuleWith("c.IsClose", "ctx.Enqueue(\"freescout\", new { operation = \"note\" })"), checks: checks));
        var secret = Assert.Single(Diagnostics(RuleWith("c.IsClose", "ctx.Enqueue(\"http\", new { token = Secret.Ref(\"hook_tokn\") })"), checks: checks));
        var fine = Diagnostics(RuleWith("c.IsClose", "ctx.Enqueue(\"http\", new { token = Secret.Ref(\"hook_token\") })"), checks: checks);

        Assert.Equal("FSR0008", unready.Id);
        Assert.Contains("The plugin of the action 'freescout' is not ready: FREESCOUTRULES_FREESCOUT_URL is not set", unready.Message, StringComparison.Ordinal);
        Assert.Equal("FSR0007", secret.Id);
        Assert.Contains("No secret 'hook_tokn' is configured; did you mean 'hook_token'?", secret.Message, StringComparison.Ordinal);
        Assert.Empty(fine);
    }

    [Fact]
    public void ABusinessCalendarNotConfigured_IsWarnedAbout_AtItsName_IgnoringCase()
    {
        var checks = new RuleChecks(Calendars: ["support"]);
        var quiet = RuleDiagnosticSeverities.With([new("FSR0009", "none")]); // the timer has no handler here
        const string Schedule = "ctx.Schedule(\"first-response\", change.ConversationId, BusinessTime.After(\"{0}\", TimeSpan.FromHours(4)))";

        var typo = Assert.Single(Diagnostics(RuleWith("c.IsClose", string.Format(System.Globalization.CultureInfo.InvariantCulture, Schedule, "suport")), quiet, checks));
        var fine = Diagnostics(RuleWith("c.IsClose", string.Format(System.Globalization.CultureInfo.InvariantCulture, Schedule, "Support")), quiet, checks);
        var unknownChecks = Diagnostics(RuleWith("c.IsClose", string.Format(System.Globalization.CultureInfo.InvariantCulture, Schedule, "suport")), quiet);

        Assert.Equal(("FSR0011", RuleDiagnosticSeverity.Warning), (typo.Id, typo.Severity));
        Assert.Contains("No business calendar 'suport' is configured; did you mean 'support'?: set Calendars:suport:TimeZone", typo.Message, StringComparison.Ordinal);
        Assert.Empty(fine);
        Assert.Empty(unknownChecks);
    }
}
