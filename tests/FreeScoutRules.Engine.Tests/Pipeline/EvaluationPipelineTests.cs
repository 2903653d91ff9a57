using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Tests.Support;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Pipeline;

/// <summary>The one evaluation: containment of failing rules, the runaway limit, re-runs, state carried forward.</summary>
public sealed class EvaluationPipelineTests : IDisposable
{
    private readonly TempDirectory _rules = new();

    public void Dispose() => _rules.Dispose();

    private OfflineEvaluator Evaluator(PipelineSettings? settings = null) =>
        new(RuleSetCompiler.Compile(_rules.Path), new EvaluationPipeline(settings ?? PipelineSettings.Default));

    private const string NotifyOnClose = """
        public class NotifyOnClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then().Do(ctx => ctx.Enqueue("http", new { n = change.Number }));
            }
        }
        """;

    [Fact]
    public async Task ConditionThrows_OnlyThatRuleFails_TheStatusChangeAndOtherRulesCommit()
    {
        _rules.Write("notify.csx", NotifyOnClose);
        _rules.Write("bad.csx", """

            public class ParsesTheSubject : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery, d => int.Parse(d.Conversation.Subject) > 0);
                    Then().Do(ctx => ctx.Enqueue("http", new { x = 1 }));
                }
            }
            """);
        var evaluator = Evaluator();

        var created = await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationCreated, Status.Active, 0));
        var closed = await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        var failure = Assert.Single(closed.Failures);
        Assert.Equal("ParsesTheSubject", failure.Rule);
        Assert.EndsWith("bad.csx(2,14)", failure.Location, StringComparison.Ordinal);
        Assert.StartsWith("condition delivery => (Parse(delivery.Conversation.Subject)", failure.Where, StringComparison.Ordinal);
        Assert.StartsWith("FormatException:", failure.Message, StringComparison.Ordinal);
        Assert.False(failure.BuiltIn);
        Assert.False(closed.BuiltInFailed);
        var change = Assert.Single(closed.StatusChanges);
        Assert.Equal((Status.Active, Status.Closed), (change.From, change.To));
        Assert.Equal("NotifyOnClose", Assert.Single(closed.Intents).Rule);
        Assert.NotNull(closed.NextState);
        Assert.Single(created.Failures); // it fails on every delivery, and each says so
        Assert.Equal(Status.Closed, evaluator.StateOf(1187).Known!.Status);
    }

    [Fact]
    public async Task ActionThrowsAfterEnqueueing_ItsIntentsAreDropped_OthersKept()
    {
        _rules.Write("notify.csx", NotifyOnClose);
        _rules.Write("bad.csx", """
            public class HalfDone : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then()
                        .Do(ctx => ctx.Enqueue("http", new { first = true }))
                        .Do(ctx => ctx.Enqueue("http", new { n = 1 / (change.Number - change.Number) }));
                }
            }
            """);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        var failure = Assert.Single(result.Failures);
        Assert.Equal("HalfDone", failure.Rule);
        Assert.StartsWith("action ", failure.Where, StringComparison.Ordinal);
        Assert.Contains("DivideByZeroException", failure.Message, StringComparison.Ordinal);
        Assert.Equal("NotifyOnClose", Assert.Single(result.Intents).Rule);
        Assert.Contains("Rule 'HalfDone' failed", Assert.Single(result.Suppressed).Reason, StringComparison.Ordinal);
        Assert.Single(result.StatusChanges);
    }

    [Fact]
    public async Task ARuleFailingInALoadedHelper_NamesTheHelpersLineThatThrew_AndTheSourcesOwnNames()
    {
        Directory.CreateDirectory(Path.Combine(_rules.Path, "lib"));
        _rules.Write(Path.Combine("lib", "text.csx"), """
            public static class Text
            {
                public static string Shout(string? value)
                {
                    string? none = value == "" ? null : null;
                    return none!.ToUpperInvariant();
                }
            }
            """);
        _rules.Write("bad.csx", """
            #load "lib/text.csx"
            public class Shouts : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("http", new { url = "https://hooks.example.com/x", text = Text.Shout(change.To) }));
                }
            }
            """);

        var failure = Assert.Single((await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60))).Failures);

        Assert.Contains("new { url = \"https://hooks.example.com/x\", text = Shout(change.To) }", failure.Where, StringComparison.Ordinal);
        Assert.DoesNotContain("AnonymousType", failure.Where, StringComparison.Ordinal);
        Assert.EndsWith($", at {Path.Combine(_rules.Path, "lib", "text.csx")}(6,9) in Text.Shout", failure.Where, StringComparison.Ordinal);
        Assert.StartsWith("NullReferenceException:", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ctx => ctx.Enqueue(\"x\", new <>f__AnonymousType0#1`2(a = \"(\", b = f(new <>f__AnonymousType1#1`1(c = 1))))",
        "ctx => ctx.Enqueue(\"x\", new { a = \"(\", b = f(new { c = 1 }) })")]
    [InlineData("c => c.IsClose", "c => c.IsClose")]
    [InlineData("new <>f__AnonymousType0#1`2(a = 1", "new <>f__AnonymousType0#1`2(a = 1")]
    public void Expressions_ReadAsTheAuthorWroteThem(string compiled, string readable) =>
        Assert.Equal(readable, EvaluationPipeline.Readable(compiled));

    [Fact]
    public async Task BuiltInStatusRuleThrows_TheEvaluationFails_AndOfflineStateStays()
    {
        var builtIn = File.ReadAllText(Path.Combine(Fixtures.RulesDirectory, BuiltInRules.FileName));
        _rules.Write(BuiltInRules.FileName, builtIn.Replace("p => p.Status != delivery.Status", "p => p.Status.Length / (p.Status.Length - p.Status.Length) > 0 || p.Status != delivery.Status", StringComparison.Ordinal));
        var evaluator = Evaluator();
        await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationCreated, Status.Active, 0));

        var result = await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.True(result.BuiltInFailed);
        Assert.True(Assert.Single(result.Failures).BuiltIn);
        Assert.Equal(Status.Active, evaluator.StateOf(1187).Known!.Status);

        // As on the server: the run's store holds it parked, its attempt recorded, and its conversation moved past it.
        var history = await evaluator.Store.LoadHistoryAsync(1187, default);
        Assert.Equal([(1L, DeliveryOutcome.Done), (2L, DeliveryOutcome.Parked)], history.Select(d => (d.Sequence, d.Outcome)));
        Assert.Equal(Status.Active, (await evaluator.Store.LoadConversationAsync(1187, Deliveries.T0, default)).Known!.Status);
        Assert.True(Assert.Single(history[1].Result!.RuleFailures!).BuiltIn);
    }

    [Fact]
    public async Task RuleActionLimit_CountsIntentsOfDeliveriesReceivedInTheWindow_AcrossDeliveries()
    {
        _rules.Write("every.csx", """
            public class OnEveryDelivery : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery);
                    Then().Do(ctx => ctx.Enqueue("http", new { at = delivery.UpdatedAt }));
                }
            }
            """);
        var evaluator = Evaluator(PipelineSettings.Default with { RuleActionLimit = 2 });

        var results = new List<EvaluationResult>();
        for (var i = 1; i <= 3; i++)
        {
            results.Add(await evaluator.ProcessAsync(Deliveries.Of(Events.NoteCreated, Status.Active, i)));
        }

        Assert.Equal([1, 1, 0], results.Select(r => r.Intents.Count));
        Assert.Contains("already queued 2 actions for conversation 1187", Assert.Single(results[2].Suppressed).Reason, StringComparison.Ordinal);
        Assert.Equal(2, evaluator.StateOf(1187).RecentIntents.Count);
    }

    [Fact]
    public void Rerun_QueuesOnlyTheRulesThatFailedTheFirstTime()
    {
        _rules.Write("notify.csx", NotifyOnClose);
        var rules = RuleSetCompiler.Compile(_rules.Path);
        var pipeline = new EvaluationPipeline(PipelineSettings.Default);
        var delivery = Deliveries.Of(Events.ConversationStatus, Status.Closed, 60);

        var again = pipeline.Evaluate(rules, delivery, KnownConversation.Unknown(1187), rerunRules: new HashSet<string>(["SomethingElse"]));
        var fixedRule = pipeline.Evaluate(rules, delivery, KnownConversation.Unknown(1187), rerunRules: new HashSet<string>(["NotifyOnClose"]));

        Assert.Empty(again.Intents);
        Assert.Contains("Re-run", Assert.Single(again.Suppressed).Reason, StringComparison.Ordinal);
        Assert.Single(fixedRule.Intents);
    }

    [Fact]
    public async Task SameIntentTwiceFromOneRule_IsRecordedOnce()
    {
        _rules.Write("twice.csx", """
            public class Twice : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change);
                    Then().Do(ctx => ctx.Enqueue("x", new { a = 1 })).Do(ctx => ctx.Enqueue("x", new { a = 1 }));
                }
            }
            """);

        Assert.Single((await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60))).Intents);
    }

    [Fact]
    public async Task FolderWithoutStatusRules_RunsTheBuiltInOnes()
    {
        _rules.Write("notify.csx", NotifyOnClose);

        var generation = RuleSetCompiler.Compile(_rules.Path);
        var result = await new OfflineEvaluator(generation, new EvaluationPipeline(PipelineSettings.Default))
            .ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Contains(generation.Rules, r => r.BuiltIn && r.File == BuiltInRules.DisplayPath);
        Assert.Single(result.StatusChanges);
        Assert.Single(result.Intents);
        Assert.NotNull(result.NextState);
    }

    [Fact]
    public void FolderOverridingTheStatusRules_IsWarnedAbout_UnlessSwitchedOff()
    {
        var builtIn = File.ReadAllText(Path.Combine(Fixtures.RulesDirectory, BuiltInRules.FileName));
        _rules.Write(BuiltInRules.FileName, builtIn + "\n// ours\n");

        var warned = RuleSetCompiler.Compile(_rules.Path);
        var quiet = RuleSetCompiler.Compile(_rules.Path, severities: RuleDiagnosticSeverities.With([new("FSR0006", "none")]));

        Assert.Equal(EngineDiagnosticIds.OverridesBuiltInRules, Assert.Single(warned.Warnings).Id);
        Assert.Empty(quiet.Warnings);
        Assert.DoesNotContain(warned.Rules, r => r.File == BuiltInRules.DisplayPath);
        Assert.All(warned.Rules, r => Assert.True(r.BuiltIn));
    }
}
