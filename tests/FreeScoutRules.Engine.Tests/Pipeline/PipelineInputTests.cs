using System.Text;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using Events = FreeScoutRules.FreeScout.WebhookEvents;

namespace FreeScoutRules.Engine.Tests.Pipeline;

/// <summary>The one reading of a stored delivery as pipeline input (dispatch, re-runs, replay, explain, test, the console).</summary>
public sealed class PipelineInputTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private static StoredDelivery Stored(string eventName, byte[]? body, long id = 42) => new(id, eventName, body, 1187, 3, At, 0);

    [Fact]
    public void AWebhooksDelivery_IsADeliveryFact_WithTheStoredIdAndReceiptTime()
    {
        var input = Assert.IsType<PipelineInput.FreeScoutDelivery>(PipelineInput.Of(Stored(Events.ConversationStatus, Fixtures.Wire("convo.status.closed"))));

        Assert.Equal(("42", Events.ConversationStatus, At, 1187), (input.Delivery.Id, input.Delivery.Event, input.Delivery.ReceivedAt, input.Delivery.ConversationId));
        Assert.Equal("line:7", Assert.IsType<PipelineInput.FreeScoutDelivery>(PipelineInput.Of(Stored(Events.ConversationStatus, Fixtures.Wire("convo.status.closed")), "line:7")).Delivery.Id);
    }

    [Fact]
    public void AReconciledSnapshot_AndACustomEvent_AreDeliveries_As_Stored()
    {
        var body = Fixtures.Wire("convo.status.closed");

        Assert.Equal(EngineEvents.Reconciliation, Assert.IsType<PipelineInput.FreeScoutDelivery>(PipelineInput.Of(Stored(EngineEvents.Reconciliation, body))).Delivery.Event);
        Assert.Equal("workflow.custom", Assert.IsType<PipelineInput.FreeScoutDelivery>(PipelineInput.Of(Stored("workflow.custom", body))).Delivery.Event);
    }

    [Fact]
    public void ATimersFiring_IsTheFiring_WhoseFactTakesTheKnownStatusAndSnapshotWhenEvaluated()
    {
        var firing = new TimerFiring(1187, "survey", 2, At, At.AddSeconds(5), "SurveyAfterClose");

        var input = Assert.IsType<PipelineInput.TimerFired>(PipelineInput.Of(Stored(TimerFiring.Event, firing.ToJson())));
        var fact = input.ToFact("closed", null);

        Assert.Equal(firing, input.Firing);
        Assert.Equal(("42", "survey", 2, "closed"), (fact.Id, fact.Name, fact.Number, fact.KnownStatus));
    }

    [Theory]
    [InlineData(TimerFiring.Event, "{\"name\":\"\"}", "The stored timer misses its name, conversation or rule.")]
    [InlineData(TimerFiring.Event, "not json", "The stored timer is not readable")]
    [InlineData(Events.ConversationStatus, "{\"id\":", "convo.status: ")]
    [InlineData(Events.CustomerCreated, null, "The stored body is not a conversation.")]
    public void AnythingElse_IsUnreadable_SayingWhy(string eventName, string? body, string why)
    {
        var bytes = body is null ? Fixtures.Wire("customer.created") : Encoding.UTF8.GetBytes(body);

        var input = Assert.IsType<PipelineInput.Unreadable>(PipelineInput.Of(Stored(eventName, bytes)));

        Assert.Contains(why, input.Problem, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void AConversationItsProducerParsed_IsUsed_NotTheBodyParsedAgain()
    {
        var parsed = Assert.IsType<PipelineInput.FreeScoutDelivery>(PipelineInput.Of(Stored(Events.ConversationStatus, Fixtures.Wire("convo.status.closed")))).Delivery.Conversation;

        var fromHint = Assert.IsType<PipelineInput.FreeScoutDelivery>(PipelineInput.Of(Stored(Events.ConversationStatus, [0xFF]), parsed: parsed));
        var fromStore = Assert.IsType<PipelineInput.FreeScoutDelivery>(PipelineInput.Of(Stored(Events.ConversationStatus, []) with { Parsed = parsed }));

        Assert.Same(parsed, fromHint.Delivery.Conversation);
        Assert.Same(parsed, fromStore.Delivery.Conversation);
    }

    [Fact]
    public void ASnapshot_IsTheConversationAStoredDeliveryDescribes_NoneForATimerOrAPrunedBody()
    {
        var body = Fixtures.Wire("convo.status.closed");

        Assert.Equal(1187, PipelineInput.SnapshotOf(Stored(Events.ConversationStatus, body))?.Id);
        Assert.Null(PipelineInput.SnapshotOf(Stored(Events.ConversationStatus, null)));
        Assert.Null(PipelineInput.SnapshotOf(Stored(TimerFiring.Event, new TimerFiring(1187, "survey", 1, At, At, "r").ToJson())));
        Assert.Null(PipelineInput.SnapshotOf(Stored(Events.ConversationStatus, Encoding.UTF8.GetBytes("{}"))));
        Assert.Null(PipelineInput.SnapshotOf(null));
    }
}
