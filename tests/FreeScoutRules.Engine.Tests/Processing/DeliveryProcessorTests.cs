using FreeScoutRules.Engine.Processing;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Processing;

public sealed class DeliveryProcessorTests : IDisposable
{
    private readonly TempDirectory _rules = new();
    private readonly InMemoryConversationStateStore _store = new();

    public DeliveryProcessorTests() =>
        File.Copy(Path.Combine(Fixtures.RulesDirectory, "status-change.csx"), Path.Combine(_rules.Path, "status-change.csx"));

    public void Dispose() => _rules.Dispose();

    [Fact]
    public async Task Process_RuleActionThrows_NamesTheRuleAndRecordsNothing()
    {
        _rules.Write("bad.csx", """
            public class DividesByZero : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.To == ConversationStatus.Closed);
                    Then().Do(ctx => ctx.Enqueue("x", new { n = 1 / (change.Number - change.Number) }));
                }
            }
            """);
        var processor = new DeliveryProcessor(RuleSetCompiler.Compile(_rules.Path), _store);
        await processor.ProcessAsync(Deliveries.Of(Events.ConversationCreated, Status.Active, 0));

        var ex = await Assert.ThrowsAsync<RuleFailedException>(async () =>
            await processor.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60)));

        Assert.Equal("DividesByZero", ex.RuleName);
        Assert.Contains("Rule 'DividesByZero' failed on delivery test:", ex.Message, StringComparison.Ordinal);
        Assert.Contains("divide by zero", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(Status.Active, (await _store.GetAsync(1187))!.Status);
    }

    [Fact]
    public async Task Process_RuleConditionThrows_OnSomeDeliveriesOnly_OthersGoOn()
    {
        _rules.Write("bad.csx", """
            public class FragileCondition : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery, d => d.LatestThread!.Id > 0);
                    Then().Do(ctx => ctx.Enqueue("x"));
                }
            }
            """);
        var processor = new DeliveryProcessor(RuleSetCompiler.Compile(_rules.Path), _store);

        var failure = await Assert.ThrowsAsync<RuleFailedException>(async () =>
            await processor.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60, conversationId: 1, noThreads: true)));
        var other = await processor.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60, conversationId: 2));

        Assert.Equal("FragileCondition", failure.RuleName);
        Assert.StartsWith("Rule 'FragileCondition' failed on delivery", failure.Message, StringComparison.Ordinal);
        Assert.Null(await _store.GetAsync(1));
        Assert.Single(other.StatusChanges);
        Assert.Equal("""{}""", Assert.Single(other.Intents).Arguments);
    }

    [Fact]
    public async Task Process_SameIntentTwiceFromOneRule_IsRecordedOnce()
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
        var processor = new DeliveryProcessor(RuleSetCompiler.Compile(_rules.Path), _store);

        var evaluation = await processor.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Single(evaluation.Intents);
    }
}
