using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// Known states of conversations whose claim this instance released, so that their next delivery needs no storage
/// read. A state is valid only while nobody else claimed the conversation since: this instance's next claim then
/// advances the conversation's epoch by exactly one, and any other epoch means someone else wrote it. Bounded: past its
/// capacity it starts over, and states are read back from storage on demand. Not thread-safe: the dispatcher calls it
/// under its lock.
/// </summary>
internal sealed class IdleStates(int capacity)
{
    private Dictionary<int, (long Epoch, KnownConversation State)> _states = [];

    public int Count => _states.Count;

    /// <summary>The remembered state of a conversation, forgotten here, when it is still valid under a claim of <paramref name="epoch"/>; else <c>null</c>.</summary>
    public KnownConversation? Take(int conversationId, long epoch) =>
        _states.Remove(conversationId, out var remembered) && remembered.Epoch + 1 == epoch ? remembered.State : null;

    /// <summary>Remembers the state a conversation was left in when its claim of <paramref name="epoch"/> was released.</summary>
    public void Remember(int conversationId, long epoch, KnownConversation? state)
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

        _states[conversationId] = (epoch, state);
    }
}
