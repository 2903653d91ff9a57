using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Known states of conversations with nothing queued, so that their next delivery needs no storage
/// read (only the dispatcher writes conversation states). Bounded: past its capacity it starts over,
/// and states are read back from storage on demand. Not thread-safe: the dispatcher calls it under its lock.
/// </summary>
internal sealed class IdleStates(int capacity)
{
    private Dictionary<int, KnownConversation> _states = [];

    public int Count => _states.Count;

    /// <summary>The remembered state of a conversation, forgotten here, or <c>null</c>.</summary>
    public KnownConversation? Take(int conversationId) => _states.Remove(conversationId, out var state) ? state : null;

    public void Remember(int conversationId, KnownConversation? state)
    {
        if (state is null || capacity == 0)
        {
            return;
        }

        if (_states.Count >= capacity)
        {
            // Crude but O(1): start over (the old table goes to the GC, not cleared under the lock).
            _states = [];
        }

        _states[conversationId] = state;
    }
}
