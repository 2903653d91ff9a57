using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;

namespace FreeScoutRules.Engine.Tests.Rules;

/// <summary>
/// The engine's diagnostics in a concise rule's terms (issue 23): an unknown status, event, action, calendar, and timers
/// scheduled but not handled (or the reverse), reported at the concise call's argument, as for rules in NRules' DSL.
/// </summary>
public sealed class ConciseDiagnosticsTests : IDisposable
{
    private static readonly RuleChecks Plugins = new(
        Actions: new HashSet<string>(["http", "freescout", "slack"], StringComparer.Ordinal),
        UnconfiguredActions: new Dictionary<string, string>(StringComparer.Ordinal) { ["freescout"] = "the FreeScout connection is not configured" },
        Secrets: new HashSet<string>(["hook_token"], StringComparer.Ordinal),
        Calendars: ["support"]);

    private readonly TempDirectory _rules = new();

    public void Dispose() => _rules.Dispose();

    private (string File, List<RuleDiagnostic> Diagnostics) Diagnostics(string code, RuleChecks? checks = null)
    {
        var file = _rules.Write("concise.csx", code);
        try
        {
            return (file, [.. RuleSetCompiler.Compile(_rules.Path, checks: checks ?? Plugins).Warnings.Where(d => d.Id.StartsWith("FSR", StringComparison.Ordinal))]);
        }
        catch (RuleCompilationException ex)
        {
            return (file, [.. ex.Diagnostics]);
        }
    }

    /// <summary>The 1-based line and column of the first <paramref name="text"/> in <paramref name="file"/>.</summary>
    private static (int Line, int Column) At(string file, string text)
    {
        var lines = File.ReadAllLines(file);
        var line = Array.FindIndex(lines, l => l.Contains(text, StringComparison.Ordinal));
        Assert.True(line >= 0, $"'{text}' is not in {file}");
        return (line + 1, lines[line].IndexOf(text, StringComparison.Ordinal) + 1);
    }

    [Fact]
    public void AMisspeltMemberOfTheConciseApi_IsTheCompilersError_WithTheMemberMeant_AndTheEnginesChecksStillRun()
    {
        var (file, diagnostics) = Diagnostics("""
            public class A() : OpsRule(On.Clsoe().Do("slack"));
            public class B() : OpsRule(On.Close().SetTag("x"));
            public class C() : OpsRule(On.Close().Where(c => c.Conversation.Subjct == "x").Do("slack"));
            public class D() : OpsRule(On.Close().Frobnicate("x"));
            public class E() : OpsRule(On.StatusChange(to: "closd").Do("slack"));
            """);

        Assert.Contains(diagnostics, d => d.Id == "CS0117" && (d.Line, d.Column) == At(file, "Clsoe") && d.Message == "'On' does not contain a definition for 'Clsoe'; did you mean 'Close'?");
        Assert.Contains(diagnostics, d => d.Id == "CS1061" && (d.Line, d.Column) == At(file, "SetTag") && d.Message == "'OnStatusChange' does not contain a definition for 'SetTag'; did you mean 'SetTags'?");
        Assert.Contains(diagnostics, d => d.Id == "CS1061" && d.Message.EndsWith("; did you mean 'Subject'?", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Id == "CS1061" && d.Message.Contains("'Frobnicate' and no accessible extension method", StringComparison.Ordinal) && !d.Message.Contains("did you mean", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Id == "FSR0002" && (d.Line, d.Column) == At(file, "\"closd\"")); // beside the compiler's errors, in one pass
        Assert.True(diagnostics.FindIndex(d => !d.IsError) > diagnostics.FindLastIndex(d => d.IsError), "errors first");
    }

    [Fact]
    public void AnEmptyTimerName_IsTheDeclarationsError_NotATimerNoRuleSchedules()
    {
        var (_, diagnostics) = Diagnostics("""
            public class E() : OpsRule(On.Timer("").Do("slack"));
            """);

        Assert.Equal("FSR0101", Assert.Single(diagnostics).Id);
    }

    [Fact]
    public void AnUnknownStatus_IsAWarningAtTheArgument_ListingTheKnownOnes()
    {
        var (file, diagnostics) = Diagnostics("""
            public class A() : OpsRule(On.StatusChange(to: "closd").Do("slack"));
            public class B() : OpsRule(On.StatusChange(from: "Pending").Do("slack"));
            public class C() : OpsRule(On.Timer("t").WhenStatus(Closed, "actve").Schedule("t", hours: 1));
            public class D() : OpsRule(On.AgentReply().UnlessStatus("spammed").SetStatus("close"));
            public class E() : OpsRule(On.Close().Where(c => c.Status == "pendng").Do("slack"));
            public class F() : OpsRule(On.StatusChange(to: Closed, from: ConversationStatus.Active).Do("slack"));
            """);

        var statuses = diagnostics.Where(d => d.Id == "FSR0002").ToList();
        Assert.All(statuses, d => Assert.False(d.IsError));
        Assert.Equal(
            new[] { At(file, "\"closd\""), At(file, "\"Pending\""), At(file, "\"actve\""), At(file, "\"spammed\""), At(file, "\"close\""), At(file, "\"pendng\"") }.Order(),
            statuses.Select(d => (d.Line, d.Column)).Order());
        Assert.Equal(
            "'closd' is not a conversation status (active, pending, closed, spam); did you mean 'closed'?",
            statuses.Single(d => d.Line == 1).Message);
    }

    [Fact]
    public void AnUnknownEvent_IsFSR0001AtTheArgument()
    {
        var (file, diagnostics) = Diagnostics("""
            public class A() : OpsRule(On.Event(WebhookEvents.ConversationCreated, "convo.stauts").Do("slack"));
            public class B() : OpsRule(On.StatusChange(via: "convo.customer.reply").Do("slack"));
            """);

        var events = diagnostics.Where(d => d.Id == "FSR0001").ToList();
        Assert.Equal([At(file, "\"convo.stauts\""), At(file, "\"convo.customer.reply\"")], events.Select(d => (d.Line, d.Column)));
        Assert.Contains("did you mean 'convo.status'?", events[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnActionNoPluginProvides_IsFSR0003_AtTheNameOrAtTheMethodThatRecordsIt()
    {
        var (file, diagnostics) = Diagnostics("""
            public class A() : OpsRule(On.Close().Do("slak", c => new { n = c.Number }));
            public class B() : OpsRule(On.Close().Post("https://hooks.example.com/x"));
            """, Plugins with { Actions = new HashSet<string>(["slack"], StringComparer.Ordinal), UnconfiguredActions = null });

        var actions = diagnostics.Where(d => d.Id == "FSR0003").ToList();
        Assert.Equal([At(file, "\"slak\""), At(file, "Post(")], actions.Select(d => (d.Line, d.Column)));
        Assert.Contains("No plugin provides the action 'slak' (loaded: slack); did you mean 'slack'?", actions[0].Message, StringComparison.Ordinal);
        Assert.Contains("No plugin provides the action 'http'", actions[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFreeScoutOperationWithoutTheConnection_IsFSR0008AtTheMethod()
    {
        var (file, diagnostics) = Diagnostics("""
            public class A() : OpsRule(On.Close().Note("closed").SetTags("a"));
            """);

        Assert.Equal(new[] { At(file, "Note("), At(file, "SetTags(") }.Order(), diagnostics.Where(d => d.Id == "FSR0008").Select(d => (d.Line, d.Column)).Order());
    }

    [Fact]
    public void AnUnknownCalendar_AndAnUnknownSecret_AreFoundInConciseCalls()
    {
        var (file, diagnostics) = Diagnostics("""
            public class A() : OpsRule(On.NewConversation().Schedule("first-response", hours: 4, businessHours: "suport"));
            public class B() : OpsRule(On.Timer("first-response").Post("https://hooks.example.com/x", new { }, headers: new Dictionary<string, string> { ["X-Token"] = Secret.Ref("hook_tokn") }));
            """);

        Assert.Equal(At(file, "\"suport\""), diagnostics.Where(d => d.Id == "FSR0011").Select(d => (d.Line, d.Column)).Single());
        Assert.Contains("did you mean 'support'?", diagnostics.Single(d => d.Id == "FSR0011").Message, StringComparison.Ordinal);
        Assert.Equal(At(file, "\"hook_tokn\""), diagnostics.Where(d => d.Id == "FSR0007").Select(d => (d.Line, d.Column)).Single());
    }

    [Fact]
    public void ATimerScheduledThatNoRuleHandles_AndOneHandledOrCancelledThatNoRuleSchedules_AreReportedAtTheirNames()
    {
        var (file, diagnostics) = Diagnostics("""
            public class Start() : OpsRule(On.Close().Schedule("survey", hours: 24).Schedule("audit", days: 7));
            public class Stop() : OpsRule(On.Reopen().Cancel("survey", "srvey"));
            public class Send() : OpsRule(On.Timer("survey", "reminder").Post("https://surveys.example.com/send"));
            """);

        var notHandled = Assert.Single(diagnostics, d => d.Id == "FSR0009");
        Assert.Equal(At(file, "\"audit\""), (notHandled.Line, notHandled.Column));
        Assert.Contains("timer 'audit' is scheduled but no rule handles it", notHandled.Message, StringComparison.Ordinal);
        var notScheduled = diagnostics.Where(d => d.Id == "FSR0010").ToList();
        Assert.Equal(new[] { At(file, "\"reminder\""), At(file, "\"srvey\"") }.Order(), notScheduled.Select(d => (d.Line, d.Column)).Order());
        Assert.Contains(notScheduled, d => d.Message.Contains("timer 'srvey' is cancelled but no rule schedules it", StringComparison.Ordinal) && d.Message.Contains("did you mean 'survey'?", StringComparison.Ordinal));
    }

    [Fact]
    public void TimerNames_AreMatchedAcrossBothStyles_AndFiles()
    {
        _rules.Write("classes.csx", """
            public class ScheduleOnPending : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.To == ConversationStatus.Pending);
                    Then().Do(ctx => ctx.Schedule("auto-close", change.ConversationId, TimeSpan.FromDays(7)));
                }
            }

            public class HandleReminder : Rule
            {
                public override void Define()
                {
                    TimerElapsed timer = default!;
                    When().Match(() => timer, t => t.Name.StartsWith("reminder-"));
                    Then().Do(ctx => ctx.Enqueue("slack"));
                }
            }
            """);

        var (_, diagnostics) = Diagnostics("""
            public class AutoClose() : OpsRule(On.Timer("auto-close").WhenStatus(Pending).SetStatus(Closed));
            public class Remind() : OpsRule(On.CustomerReply().Schedule("reminder-12h", hours: 12));
            """, Plugins with { UnconfiguredActions = null });

        Assert.Empty(diagnostics);
    }

    [Fact]
    public void AComputedNameInOnTimer_HandlesAnyName()
    {
        var (_, diagnostics) = Diagnostics("""
            static readonly string[] Names = ["a", "b"];
            public class Start() : OpsRule(On.Close().Schedule("anything", hours: 1));
            public class Handle() : OpsRule(On.Timer(Names).Do("slack"));
            """);

        Assert.DoesNotContain(diagnostics, d => d.Id is "FSR0009" or "FSR0010");
    }
}
