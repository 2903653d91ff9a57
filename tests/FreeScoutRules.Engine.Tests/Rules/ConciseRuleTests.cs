using System.Text;
using System.Text.Json.Nodes;
using FreeScoutRules.Engine.Explain;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using NRules.Diagnostics;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Rules;

/// <summary>
/// Concise rules (issue 23): <c>OpsRule</c> classes declared with <c>On.…</c> become ordinary NRules rules: their built-in
/// conditions are NRules conditions over the facts (shown by explain, shared with rules written in NRules' DSL), their
/// lambdas run contained, and their declarations are contained at load too.
/// </summary>
public sealed class ConciseRuleTests : IDisposable
{
    private readonly TempDirectory _rules = new();

    public ConciseRuleTests() =>
        File.Copy(Path.Combine(Fixtures.RulesDirectory, "status-change.csx"), Path.Combine(_rules.Path, "status-change.csx"));

    public void Dispose() => _rules.Dispose();

    private OfflineEvaluator Evaluator(PipelineSettings? settings = null) =>
        new(RuleSetCompiler.Compile(_rules.Path), new EvaluationPipeline(settings ?? PipelineSettings.Default));

    private RuleCompilationException CompileFails(TimeSpan? defineTimeout = null) =>
        Assert.Throws<RuleCompilationException>(() => RuleSetCompiler.Compile(_rules.Path, defineTimeout: defineTimeout));

    /// <summary>The 1-based line of the first line of <paramref name="file"/> holding <paramref name="text"/>.</summary>
    private static int LineOf(string file, string text) => Array.FindIndex(File.ReadAllLines(file), l => l.Contains(text, StringComparison.Ordinal)) + 1;

    /// <summary>An agent's note on conversation 1187 written by user <paramref name="authorId"/> through <paramref name="sourceType"/>, closing it.</summary>
    private static Delivery Note(string sourceType, int authorId)
    {
        var json = Fixtures.Json("convo.note.created");
        json["id"] = 1187;
        json["status"] = Status.Closed;
        var thread = json["_embedded"]!["threads"]![0]!;
        thread["source"]!["type"] = sourceType;
        thread["createdBy"]!["id"] = authorId;
        thread["createdBy"]!["type"] = "user";
        var conversation = new DeliveryParser().Parse(Events.NoteCreated, Encoding.UTF8.GetBytes(json.ToJsonString())).Delivery!.Conversation!;
        return new Delivery("note", Events.NoteCreated, Deliveries.T0, conversation);
    }

    [Fact]
    public async Task AConciseRule_IsNamedAfterItsClass_AndRecordsItsActionsInOrder_WithTheArgumentsARuleInNRulesDslWouldRecord()
    {
        var file = _rules.Write("close.csx", """
            public class TellSupport() : OpsRule(On.Close()
                .Post("https://hooks.example.com/support", c => new { text = $"#{c.Number} \"{c.Conversation.Subject}\" closed", by = c.Change.By?.FirstName ?? "someone" })
                .Note(c => $"Closed from {c.Change.From}")
                .SetTags("closed", "seen")
                .Assign(7)
                .SetStatus(Pending)
                .Reply("Thanks!")
                .FreeScout("custom-fields", c => new Dictionary<string, object> { ["customFields"] = new Dictionary<string, string> { ["3"] = c.Status } })
                .Do("slack", c => new { channel = "#support", number = c.Number })
                .Do("metrics")
                .Schedule("survey", days: 1, hours: 2)
                .Cancel("first-response", "reminder"));

            [Name("named-close")]
            public class Named() : OpsRule(On.StatusChange(to: Closed, from: Active, via: WebhookEvents.ConversationStatus).Do("x", new { fixedArgument = true }));
            """);
        var delivery = Deliveries.Of(Events.ConversationStatus, Status.Closed, 60);
        var evaluator = Evaluator();
        await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationCreated, Status.Active, 0));

        var result = await evaluator.ProcessAsync(delivery);

        Assert.Empty(result.Failures);
        var rule = evaluator.Rules.Find("TellSupport");
        Assert.Equal($"{file}(1,14)", rule!.Location);
        Assert.Equal(
            [
                ("http", $$$"""{"url":"https://hooks.example.com/support","body":{"text":"#11187 \"{{{delivery.Conversation.Subject}}}\" closed","by":"Anna"}}"""),
                ("freescout", """{"operation":"note","conversationId":1187,"text":"Closed from active"}"""),
                ("freescout", """{"operation":"tags","conversationId":1187,"tags":["closed","seen"]}"""),
                ("freescout", """{"operation":"assign","conversationId":1187,"userId":7}"""),
                ("freescout", """{"operation":"status","conversationId":1187,"status":"pending"}"""),
                ("freescout", """{"operation":"reply","conversationId":1187,"text":"Thanks!"}"""),
                ("freescout", """{"operation":"custom-fields","conversationId":1187,"customFields":{"3":"closed"}}"""),
                ("slack", """{"channel":"#support","number":11187}"""),
                ("metrics", "{}"),
            ],
            result.Intents.Where(i => i.Rule == "TellSupport").Select(i => (i.Action, i.Arguments)));
        Assert.Equal(
            [("survey", (DateTimeOffset?)(delivery.ReceivedAt + TimeSpan.FromHours(26))), ("first-response", null), ("reminder", null)],
            result.TimerChanges.Select(t => (t.Name, t.DueAt)));
        Assert.Equal("""{"fixedArgument":true}""", Assert.Single(result.Intents, i => i.Rule == "named-close").Arguments);
    }

    [Fact]
    public async Task Conditions_OnStatusChanges_Events_AndTheConversation_MatchOnlyWhatTheySay()
    {
        _rules.Write("conditions.csx", """
            public class Reopened() : OpsRule(On.Reopen().Do("reopened"));
            public class ClosedByAgent() : OpsRule(On.Close().ByUser().Do("by-agent"));
            public class ClosedByUser99() : OpsRule(On.Close().ByUser(99).Do("by-99"));
            public class ClosedByCustomer() : OpsRule(On.Close().ByCustomer().Do("by-customer"));
            public class ClosedInMailbox() : OpsRule(On.Close().InMailbox(999, 1).Do("in-mailbox"));
            public class ClosedInOtherMailbox() : OpsRule(On.Close().InMailbox(999).Do("in-other-mailbox"));
            public class ClosedUnassigned() : OpsRule(On.Close().Unassigned().Do("unassigned"));
            public class ClosedAssignedTo2() : OpsRule(On.Close().Assigned(2).Do("assigned-to-2"));
            public class ClosedAssignedTo3() : OpsRule(On.Close().Assigned(3).Do("assigned-to-3"));
            public class StatusEvent() : OpsRule(On.Event(WebhookEvents.ConversationStatus, WebhookEvents.NoteCreated).WhenStatus(Closed, Spam).Do("status-event"));
            public class StatusEventNotClosed() : OpsRule(On.Event(WebhookEvents.ConversationStatus).UnlessStatus(Closed).Do("not-closed"));
            public class NewFromCustomer() : OpsRule(On.NewConversation().FromCustomer().Do("new-from-customer"));
            public class AuthorsOwn() : OpsRule(On.Close().Where(c => c.Conversation.Subject.StartsWith("Invoice") && c.Delivery != null && c.Timer == null).Do("where"));
            """);
        var evaluator = Evaluator();

        var created = await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationCreated, Status.Active, 0, newestThreadType: "customer"));
        var closed = await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));
        var reopened = await evaluator.ProcessAsync(Deliveries.Of(Events.CustomerReplyCreated, Status.Active, 120, newestThreadType: "customer"));

        Assert.Empty(closed.Failures);
        // The fixture's conversation: mailbox 1, assigned to user 2, closed by user 2.
        Assert.Equal(["new-from-customer"], created.Intents.Select(i => i.Action));
        Assert.Equal(["assigned-to-2", "by-agent", "in-mailbox", "status-event", "where"], closed.Intents.Select(i => i.Action).Order());
        Assert.Equal(["reopened"], reopened.Intents.Select(i => i.Action));
    }

    [Fact]
    public void NotByBot_IsTheOwnWriteFactAbsent_AndTheRuleDependsOnTheBotUserSetting()
    {
        _rules.Write("notes.csx", """
            public class OnNote() : OpsRule(On.Event(WebhookEvents.NoteCreated).NotByBot().ByUser().Do("seen"));
            public class OnClose() : OpsRule(On.StatusChange(to: Closed).NotByBot().Do("closed"));
            """);
        var rules = RuleSetCompiler.Compile(_rules.Path);
        var withBot = new EvaluationPipeline(PipelineSettings.Default with { BotUserId = 5 });

        var active = new KnownConversation(1187, new PriorState(1187, Status.Active, Deliveries.T0.AddDays(-1)), []);
        var echo = withBot.Evaluate(rules, Note("api", 5), active);
        var human = withBot.Evaluate(rules, Note("web", 3), active);

        Assert.Single(echo.StatusChanges);
        Assert.Empty(echo.Intents);
        Assert.Equal(["closed", "seen"], human.Intents.Select(i => i.Action).Order());
        Assert.Equal(["Dispatch:BotUserId"], rules.Find("OnNote")!.Settings);
    }

    [Fact]
    public async Task TheBuiltInConditions_AreNRulesConditionsOverTheFacts_ThatExplainShows_AndRulesInNRulesDslShareTheirNodes()
    {
        _rules.Write("rules.csx", """
            public class Concise() : OpsRule(On.StatusChange(to: Pending).Do("concise"));

            public class InNRulesDsl : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.To == ConversationStatus.Pending);
                    Then().Do(ctx => ctx.Enqueue("dsl"));
                }
            }

            public class OnTimer() : OpsRule(On.Timer("survey").WhenStatus(Closed).Cancel("x"));
            """);
        var evaluator = Evaluator();

        var (explained, _) = await RuleExplainer.ExplainAsync(evaluator, Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Equal("condition change => (change.To == \"pending\") was false (on StatusChanged)", explained.Single(r => r.Rule == "Concise").Reason);
        var selections = evaluator.Rules.SessionFactory.GetSchema().Nodes
            .Where(n => n.NodeType == NodeType.Selection && n.Expressions.Any(e => e.Value.ToString().Contains("\"pending\"", StringComparison.Ordinal)))
            .ToList();
        var shared = Assert.Single(selections);
        Assert.Equal(["Concise", "InNRulesDsl"], shared.Rules.Select(r => r.Name).Order());
        Assert.Contains(evaluator.Rules.SessionFactory.GetSchema().Nodes, n => n.NodeType == NodeType.Selection
            && n.Expressions.Any(e => e.Value.ToString() == "timer => ((timer.Name == \"survey\"))" || e.Value.ToString() == "timer => (timer.Name == \"survey\")"));
    }

    [Fact]
    public async Task AWhereThatThrows_IsTheRulesFailure_AtItsLambdasLine_AndTheOtherRulesRun()
    {
        var file = _rules.Write("where.csx", """
            public class Fine() : OpsRule(On.Close().Do("fine"));

            public class ParsesTheSubject() : OpsRule(On.Close()
                .Where(c => int.Parse(c.Conversation.Subject) > 0)
                .Do("never"));
            """);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        var failure = Assert.Single(result.Failures);
        Assert.Equal("ParsesTheSubject", failure.Rule);
        Assert.Equal($"{file}(3,14)", failure.Location);
        Assert.StartsWith("condition (c => int.Parse(c.Conversation.Subject) > 0), at ", failure.Where, StringComparison.Ordinal); // as written, not NRules' call of it
        Assert.EndsWith($", at {file}({LineOf(file, "int.Parse")},17) in a lambda of ParsesTheSubject", failure.Where, StringComparison.Ordinal);
        Assert.StartsWith("FormatException:", failure.Message, StringComparison.Ordinal);
        Assert.Equal(["fine"], result.Intents.Select(i => i.Action));
    }

    [Fact]
    public async Task AnActionThatThrows_DropsEveryIntentAndTimerOfItsRule_AndIsReportedAtItsLambdasLine()
    {
        var file = _rules.Write("action.csx", """
            public class Fine() : OpsRule(On.Close().Do("fine"));

            public class Throws() : OpsRule(On.Close()
                .Do("first")
                .Schedule("later", hours: 1)
                .Post("https://hooks.example.com/x", c => new { n = c.Number / (c.Number - c.Number) }));

            public class NotAnObject() : OpsRule(On.Close().Do("bad", c => 42));
            """);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Equal(["fine"], result.Intents.Select(i => i.Action));
        Assert.Empty(result.TimerChanges);
        Assert.Contains(result.Suppressed, s => s.Intent.Rule == "Throws" && s.Intent.Action == "first");
        var throws = Assert.Single(result.Failures, f => f.Rule == "Throws");
        Assert.StartsWith("action Post(\"https://hooks.example.com/x\", c => new { n = c.Number / (c.Number - c.Number) }), at ", throws.Where, StringComparison.Ordinal);
        Assert.EndsWith($", at {file}({LineOf(file, "c.Number / ")},47) in a lambda of Throws", throws.Where, StringComparison.Ordinal);
        Assert.StartsWith("DivideByZeroException:", throws.Message, StringComparison.Ordinal);
        // No line of the rule's own code threw: the rule's declaration says where it is.
        var notAnObject = Assert.Single(result.Failures, f => f.Rule == "NotAnObject");
        Assert.Equal($"{file}({LineOf(file, "class NotAnObject")},14)", notAnObject.Location);
        Assert.Equal("action Do(\"bad\", c => 42)", notAnObject.Where);
        Assert.StartsWith("ArgumentException: Action arguments must be an object", notAnObject.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADeclarationThatThrows_IsFSR0101_AtItsLine_WithWhy_AndTheOtherErrorsAreListedToo()
    {
        var file = _rules.Write("bad.csx", """
            public class Fine() : OpsRule(On.Close().Do("fine"));

            public class EmptyTimer() : OpsRule(
                On.Timer("").Do("x"));

            public class NoAction() : OpsRule(On.Close().NotByBot());

            public class NegativeDelay() : OpsRule(On.Close().Schedule("late", hours: -1));
            """);

        var errors = CompileFails().Diagnostics.Where(d => d.Id == "FSR0101").ToList();

        Assert.Equal(3, errors.Count);
        Assert.All(errors, e => Assert.Equal(file, e.File));
        var empty = Assert.Single(errors, e => e.Message.Contains("'EmptyTimer'", StringComparison.Ordinal));
        Assert.Equal(LineOf(file, "class EmptyTimer"), empty.Line);
        Assert.Contains("ArgumentException: Name at least one timer, none empty.", empty.Message, StringComparison.Ordinal);
        var noAction = Assert.Single(errors, e => e.Message.Contains("'NoAction'", StringComparison.Ordinal));
        Assert.Equal(LineOf(file, "class NoAction"), noAction.Line);
        Assert.Contains("A rule needs at least one action", noAction.Message, StringComparison.Ordinal);
        Assert.Contains(errors, e => e.Message.Contains("'NegativeDelay'", StringComparison.Ordinal) && e.Message.Contains("ArgumentOutOfRangeException", StringComparison.Ordinal));
    }

    [Fact]
    public void AnotherFilesError_DoesNotHideTheDeclarationsErrors_EveryErrorInOnePass()
    {
        var io = _rules.Write("io.csx", """
            public class ReadsAFile() : OpsRule(On.Close().Where(c => System.IO.File.Exists("/tmp/x")).Do("x"));
            """);
        var declarations = _rules.Write("declarations.csx", """
            public class EmptyTimer() : OpsRule(On.Timer("").Do("x"));

            [Name("twice")]
            public class One() : OpsRule(On.Close().Do("x"));

            [Name("twice")]
            public class Other() : OpsRule(On.Reopen().Do("x"));
            """);

        var diagnostics = CompileFails().Diagnostics;

        Assert.Contains(diagnostics, d => d.Id == "FSR0004" && d.File == io);
        Assert.Contains(diagnostics, d => d.Id == "FSR0101" && d.File == declarations && d.Message.Contains("'EmptyTimer'", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Id == "FSR0102" && d.File == declarations);
    }

    [Fact]
    public void ADeclarationThatNeverReturns_IsFSR0101_OnceTheTimeLimitPassed_AndTheLoadGoesOnWithoutIt()
    {
        var file = _rules.Write("hangs.csx", """
            public class Hangs() : OpsRule(Forever());

            public class AlsoBroken() : OpsRule(On.Close().Schedule(""));

            static OpsDeclaration Forever()
            {
                new System.Threading.ManualResetEventSlim(false).Wait();
                return On.Close().Do("never");
            }
            """);

        var errors = CompileFails(TimeSpan.FromMilliseconds(300)).Diagnostics.Where(d => d.IsError).ToList();

        var hangs = Assert.Single(errors, e => e.Message.Contains("'Hangs'", StringComparison.Ordinal));
        Assert.Equal(("FSR0101", file, 1, 14), (hangs.Id, hangs.File, hangs.Line, hangs.Column));
        Assert.Contains("did not return within 0.3 s", hangs.Message, StringComparison.Ordinal);
        Assert.Contains(errors, e => e.Message.Contains("'AlsoBroken'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ADeclarationIsShared_WithoutOneRuleChangingAnothers()
    {
        _rules.Write("shared.csx", """
            static readonly OnStatusChange Closing = On.Close().NotByBot();

            public class First() : OpsRule(Closing.Do("first"));
            public class Second() : OpsRule(Closing.Do("second"));
            """);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Equal([("First", "first"), ("Second", "second")], result.Intents.Select(i => (i.Rule, i.Action)).Order());
    }

    [Fact]
    public async Task APostsHeaderMayCarryASecretReference_RecordedAsItsPlace()
    {
        _rules.Write("secret.csx", """
            public class Hook() : OpsRule(On.Close().Post("https://hooks.example.com/x",
                c => new { n = c.Number },
                headers: new Dictionary<string, string> { ["Authorization"] = $"Bearer {Secret.Ref("hook_token")}" }));
            """);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        var intent = Assert.Single(result.Intents);
        Assert.Equal("""{"url":"https://hooks.example.com/x","headers":{"Authorization":"Bearer secret://hook_token"},"body":{"n":11187}}""", intent.Arguments);
        var place = Assert.Single(JsonNode.Parse(intent.SecretPlaces!)!.AsArray());
        Assert.Equal("hook_token", (string?)place!["name"]);
    }
}
