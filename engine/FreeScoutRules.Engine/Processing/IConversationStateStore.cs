using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Processing;

/// <summary>
/// Where the known state of each conversation lives between deliveries. Implementations are
/// thread-safe; callers serialise deliveries of one conversation.
/// </summary>
internal interface IConversationStateStore
{
    /// <summary>The known state of <paramref name="conversationId"/>, or <c>null</c> when nothing is known.</summary>
    ValueTask<PriorState?> GetAsync(int conversationId, CancellationToken cancellationToken = default);

    /// <summary>Records <paramref name="state"/> as the known state of its conversation.</summary>
    ValueTask SetAsync(NextState state, CancellationToken cancellationToken = default);
}
