using System.Globalization;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Pipeline;

/// <summary>
/// What a stored delivery is to the <see cref="EvaluationPipeline"/>, read one way by dispatch (first runs and re-runs),
/// <c>replay</c>, <c>explain</c>, the offline runs of <c>test</c> and the console (docs/design.md, "The one evaluation
/// pipeline"): a FreeScout delivery (a webhook's, or a snapshot reconciliation read from FreeScout's API, whose event is
/// <c>reconciliation</c>) is a <see cref="Delivery"/> fact; a timer's firing is a <see cref="TimerFired"/>, whose fact
/// takes the conversation's known status and latest snapshot when it is evaluated; anything else is
/// <see cref="Unreadable"/>, with why. Immutable.
/// </summary>
internal abstract record PipelineInput
{
    /// <summary>The one reading of stored bodies: every event (custom ones too: storage held them), reconciled snapshots.</summary>
    private static readonly DeliveryParser Parser = new(new DeliveryParserOptions { AcceptCustomEvents = true, AcceptReconciled = true });

    private PipelineInput()
    {
    }

    /// <summary>A conversation delivery of FreeScout's: a webhook's, or a reconciled snapshot.</summary>
    internal sealed record FreeScoutDelivery(Delivery Delivery) : PipelineInput;

    /// <summary>A timer's firing, stored as its conversation's next delivery; <see cref="Id"/> is the fact's id.</summary>
    internal sealed record TimerFired(string Id, TimerFiring Firing) : PipelineInput
    {
        /// <summary>The fact the rules see, with the conversation's known status and latest snapshot at evaluation.</summary>
        public TimerElapsed ToFact(string? knownStatus, Conversation? snapshot) => Firing.ToFact(Id, knownStatus, snapshot);
    }

    /// <summary>A stored delivery that cannot run: its body is not a conversation, or not a readable timer.</summary>
    internal sealed record Unreadable(string Problem) : PipelineInput;

    /// <summary>
    /// The input <paramref name="stored"/> is: its fact's id is the delivery's id unless <paramref name="id"/> says otherwise
    /// (an offline run's <c>line:N</c>); a conversation its producer parsed (<paramref name="parsed"/>, else
    /// <see cref="StoredDelivery.Parsed"/>) is used as it is, not parsed again.
    /// </summary>
    public static PipelineInput Of(StoredDelivery stored, string? id = null, Conversation? parsed = null)
    {
        ArgumentNullException.ThrowIfNull(stored);
        return Of(id ?? IdOf(stored.Id), stored.Event, stored.ReceivedAt, stored.Body, parsed ?? stored.Parsed);
    }

    /// <summary>The input of a delivery's parts (<see cref="Of(StoredDelivery, string?, Conversation?)"/>).</summary>
    public static PipelineInput Of(string id, string eventName, DateTimeOffset receivedAt, byte[]? body, Conversation? parsed)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        if (string.Equals(eventName, TimerFiring.Event, StringComparison.Ordinal))
        {
            return TimerFiring.FromJson(body ?? [], out var unreadable) is { } firing ? new TimerFired(id, firing) : new Unreadable(unreadable!);
        }

        string? problem = null;
        return (parsed ?? Parse(eventName, body, out problem)) is { } conversation
            ? new FreeScoutDelivery(new Delivery(id, eventName, receivedAt, conversation))
            : new Unreadable(problem ?? "The stored body is not a conversation.");
    }

    /// <summary>
    /// The conversation a stored delivery describes, as a snapshot (a timer's latest, the console's): <c>null</c> for none,
    /// a timer's firing, a body retention pruned, or one that is not a conversation.
    /// </summary>
    public static Conversation? SnapshotOf(StoredDelivery? stored) =>
        stored is null || string.Equals(stored.Event, TimerFiring.Event, StringComparison.Ordinal)
            ? null
            : stored.Parsed ?? (stored.Body is { } body ? Parse(stored.Event, body, out _) : null);

    /// <summary>A stored delivery's id as its fact's id.</summary>
    public static string IdOf(long deliveryId) => deliveryId.ToString(CultureInfo.InvariantCulture);

    private static Conversation? Parse(string eventName, byte[]? body, out string? problem)
    {
        var result = Parser.Parse(eventName, body ?? []);
        problem = result.Problem?.Message;
        return result.Delivery?.Conversation;
    }
}
