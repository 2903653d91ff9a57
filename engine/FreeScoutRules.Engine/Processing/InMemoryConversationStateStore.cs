using System.Collections.Concurrent;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Processing;

/// <summary>Conversation state in process memory: for <c>freescout-rules test</c> and tests. Thread-safe.</summary>
internal sealed class InMemoryConversationStateStore : IConversationStateStore
{
    private readonly ConcurrentDictionary<int, PriorState> _states = new();

    public ValueTask<PriorState?> GetAsync(int conversationId, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(_states.GetValueOrDefault(conversationId));

    public ValueTask SetAsync(NextState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        _states[state.ConversationId] = new PriorState(state.ConversationId, state.Status, state.UpdatedAt);
        return ValueTask.CompletedTask;
    }
}
