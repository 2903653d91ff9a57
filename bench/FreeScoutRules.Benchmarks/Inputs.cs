using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Benchmarks;

/// <summary>The inputs every benchmark shares, copied next to the executable by the project file (data/).</summary>
internal static class Inputs
{
    /// <summary>The fixture body: a Send &amp; Close <c>convo.status</c> delivery, 7,117 bytes of exact wire JSON.</summary>
    public const string BodyFile = "convo.status.closed.on-reply.body";

    /// <summary>The <c>X-FreeScout-Event</c> that comes with <see cref="BodyFile"/> (see tests/fixtures/freescout/wire/signatures.json).</summary>
    public const string EventName = WebhookEvents.ConversationStatus;

    public static string DataDirectory => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>The built-in rules file (a copy of rules/status-change.csx).</summary>
    public static string BuiltInRulesFile => Path.Combine(DataDirectory, "rules", "status-change.csx");

    public static byte[] ReadBody() => File.ReadAllBytes(Path.Combine(DataDirectory, BodyFile));

    /// <summary>
    /// The body parsed once, as the engine does, wrapped into the <see cref="Delivery"/> fact, and a
    /// prior known state that says <c>active</c> a few minutes earlier: the built-in rules derive
    /// StatusChanged(active -> closed, via convo.status) from them.
    /// </summary>
    public static (Delivery Delivery, PriorState Prior) ParsedDelivery()
    {
        var result = new DeliveryParser().Parse(EventName, ReadBody());
        if (!result.IsValid)
        {
            throw new InvalidOperationException($"The benchmark body does not parse: {result.Problem.Message}");
        }

        var conversation = result.Delivery.Conversation
            ?? throw new InvalidOperationException("The benchmark body is not a conversation.");
        var delivery = new Delivery("bench:1", EventName, conversation.UpdatedAt!.Value.AddSeconds(2), conversation);
        var prior = new PriorState(conversation.Id, ConversationStatus.Active, delivery.UpdatedAt.AddMinutes(-5));
        return (delivery, prior);
    }

    private static readonly EvaluationPipeline Pipeline = new(PipelineSettings.Default);
    private static KnownConversation? _state;

    /// <summary>The engine's evaluation (<see cref="EvaluationPipeline.Evaluate"/>) of a delivery against a known prior state.</summary>
    public static EvaluationResult Evaluate(RuleSetGeneration rules, Delivery delivery, PriorState prior)
    {
        var state = _state is { } known && ReferenceEquals(known.Known, prior) ? known : _state = new KnownConversation(prior.ConversationId, prior, []);
        return Pipeline.Evaluate(rules, delivery, state);
    }
}
