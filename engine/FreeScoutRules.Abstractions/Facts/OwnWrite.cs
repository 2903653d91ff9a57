namespace FreeScoutRules.Facts;

/// <summary>
/// Fact: the delivery reports a change FreeScoutRules made itself. FreeScout echoes our own API writes
/// back as webhooks; the engine inserts this fact when the delivery's newest thread was written
/// through the API (<c>source.type == "api"</c>) by the configured bot user (<c>Actions:BotUserId</c>).
/// Rules that react to changes should usually require its absence: <c>.Not&lt;OwnWrite&gt;()</c>.
/// </summary>
/// <param name="ConversationId">The conversation of the delivery.</param>
/// <param name="BotUserId">The bot user that wrote the newest thread.</param>
public sealed record OwnWrite(int ConversationId, int BotUserId)
{
    /// <summary>True when <paramref name="delivery"/>'s newest thread is an API write by <paramref name="botUserId"/>.</summary>
    public static bool IsOwnWrite(Delivery delivery, int botUserId)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return delivery.LatestThread is { Source.Type: FreeScout.SourceType.Api, CreatedBy: { IsUser: true } author } && author.Id == botUserId;
    }
}
