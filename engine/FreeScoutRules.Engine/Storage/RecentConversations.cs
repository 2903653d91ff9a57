using System.Collections.Concurrent;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// The conversations this process's producers parsed, by delivery id, for the deliveries they stored: dispatch takes
/// them instead of decompressing and parsing the stored body again (the stores that keep bytes only: SQLite, PostgreSQL).
/// Bounded (past it, it starts over; a delivery not found is read from its body). Thread-safe.
/// </summary>
internal sealed class RecentConversations
{
    private const int Capacity = 16_384;
    private ConcurrentDictionary<long, Conversation> _parsed = new();

    public void Remember(long deliveryId, Conversation conversation)
    {
        if (_parsed.Count >= Capacity)
        {
            _parsed = new ConcurrentDictionary<long, Conversation>(); // crude but O(1): they are parsed again
        }

        _parsed[deliveryId] = conversation;
    }

    public Conversation? Take(long deliveryId) => _parsed.TryRemove(deliveryId, out var parsed) ? parsed : null;

    public bool Has(long deliveryId) => _parsed.ContainsKey(deliveryId);
}
