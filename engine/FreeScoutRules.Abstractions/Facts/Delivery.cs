using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Facts;

/// <summary>
/// Fact: one webhook delivery of a conversation event, inserted into every rule session that
/// processes it. Exactly one <see cref="Delivery"/> is in a session. Immutable.
/// </summary>
public sealed class Delivery
{
    /// <summary>Creates the fact.</summary>
    /// <exception cref="ArgumentException">The conversation has no <c>updatedAt</c> (validation lets none through).</exception>
    public Delivery(string id, string @event, DateTimeOffset receivedAt, Conversation conversation)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentException.ThrowIfNullOrEmpty(@event);
        ArgumentNullException.ThrowIfNull(conversation);
        Id = id;
        Event = @event;
        ReceivedAt = receivedAt;
        Conversation = conversation;
        UpdatedAt = conversation.UpdatedAt
            ?? throw new ArgumentException("The conversation snapshot has no updatedAt.", nameof(conversation));
    }

    /// <summary>Identifies the delivery: the inbox id on the server, <c>line:N</c> in <c>freescout-rules test</c>.</summary>
    public string Id { get; }

    /// <summary>The <c>X-FreeScout-Event</c> name, for example <see cref="WebhookEvents.ConversationStatus"/>.</summary>
    public string Event { get; }

    /// <summary>When FreeScoutRules received the delivery.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>The conversation as FreeScout described it at event time.</summary>
    public Conversation Conversation { get; }

    public int ConversationId => Conversation.Id;

    /// <summary>The status the snapshot reports.</summary>
    public string Status => Conversation.Status;

    /// <summary>The snapshot's <c>updatedAt</c>.</summary>
    public DateTimeOffset UpdatedAt { get; }

    /// <summary>The newest thread, or <c>null</c>.</summary>
    public ConversationThread? LatestThread => Conversation.LatestThread;

    /// <summary>True when this delivery is older than what is already known (<paramref name="prior"/>): it changes nothing.</summary>
    /// <remarks>Equal timestamps are not stale: FreeScout's clock has one-second steps.</remarks>
    public bool IsStaleAgainst(PriorState prior)
    {
        ArgumentNullException.ThrowIfNull(prior);
        return UpdatedAt < prior.UpdatedAt;
    }

    public override string ToString() => $"{Event} #{Conversation.Number} ({Id})";
}
