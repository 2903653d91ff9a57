using System.Collections.Concurrent;

namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>A conversation with its JSON, encoded once when it is stored.</summary>
internal sealed record StoredConversation(StandInConversation Conversation, byte[] Json)
{
    public static StoredConversation Of(StandInConversation conversation) => new(conversation, ConversationJson.Encode(conversation));
}

/// <summary>
/// The stand-in's conversations by id. Thread-safe: writes take a lock; reads work on an immutable snapshot that the next
/// write replaces, and keep each order they are asked for, so a poller pays for a sort only after a change.
/// </summary>
internal sealed class ConversationStore
{
    private static readonly string[] StatusCycle = ["active", "pending", "closed"];

    private readonly Lock _gate = new();
    private readonly Dictionary<int, StoredConversation> _byId = [];
    private Snapshot? _snapshot;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _byId.Count;
            }
        }
    }

    public void Put(StandInConversation conversation)
    {
        var stored = StoredConversation.Of(Normalise(conversation));
        lock (_gate)
        {
            _byId[stored.Conversation.Id] = stored;
            _snapshot = null;
        }
    }

    public StandInConversation Touch(int id, string status, DateTimeOffset updatedAt)
    {
        CheckStatus(status);
        lock (_gate)
        {
            if (!_byId.TryGetValue(id, out var stored))
            {
                throw new KeyNotFoundException($"The stand-in has no conversation {id}.");
            }

            return TouchLocked(stored.Conversation, status, updatedAt);
        }
    }

    /// <summary>Moves the <paramref name="count"/> least recently updated conversations (ties: lower id first) to the next status of active → pending → closed → active (spam → active).</summary>
    public IReadOnlyList<int> TouchOldest(int count, DateTimeOffset updatedAt)
    {
        lock (_gate)
        {
            var oldest = _byId.Values.Select(s => s.Conversation)
                .OrderBy(c => c.UpdatedAt).ThenBy(c => c.Id)
                .Take(count)
                .ToList();
            foreach (var c in oldest)
            {
                var next = StatusCycle[(Array.IndexOf(StatusCycle, c.Status) + 1) % StatusCycle.Length];
                TouchLocked(c, next, updatedAt);
            }

            return oldest.ConvertAll(c => c.Id);
        }
    }

    public bool Remove(int id)
    {
        lock (_gate)
        {
            if (!_byId.Remove(id))
            {
                return false;
            }

            _snapshot = null;
            return true;
        }
    }

    public StoredConversation? Find(int id)
    {
        lock (_gate)
        {
            return _byId.GetValueOrDefault(id);
        }
    }

    public Snapshot Current()
    {
        lock (_gate)
        {
            return _snapshot ??= new Snapshot([.. _byId.Values]);
        }
    }

    private StandInConversation TouchLocked(StandInConversation c, string status, DateTimeOffset updatedAt)
    {
        var at = FreeScoutStandIn.ToWholeSeconds(updatedAt);
        var touched = c with
        {
            Status = status,
            UpdatedAt = at,
            UserUpdatedAt = at,
            ClosedAt = status == "closed" ? at : c.ClosedAt,
        };
        _byId[c.Id] = StoredConversation.Of(touched);
        _snapshot = null;
        return touched;
    }

    private static StandInConversation Normalise(StandInConversation c)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(c.Id, nameof(c.Id));
        CheckStatus(c.Status);
        if (!StandInConversation.States.Contains(c.State))
        {
            throw new ArgumentException($"State '{c.State}' is none of {string.Join(", ", StandInConversation.States)}.", nameof(c));
        }

        var updatedAt = FreeScoutStandIn.ToWholeSeconds(c.UpdatedAt);
        return c with
        {
            UpdatedAt = updatedAt,
            CreatedAt = FreeScoutStandIn.ToWholeSeconds(c.CreatedAt ?? updatedAt),
            ClosedAt = c.ClosedAt is { } closedAt ? FreeScoutStandIn.ToWholeSeconds(closedAt) : c.Status == "closed" ? updatedAt : null,
            UserUpdatedAt = c.UserUpdatedAt is { } userUpdatedAt ? FreeScoutStandIn.ToWholeSeconds(userUpdatedAt) : null,
        };
    }

    private static void CheckStatus(string status)
    {
        if (!StandInConversation.Statuses.Contains(status))
        {
            throw new ArgumentException($"Status '{status}' is none of {string.Join(", ", StandInConversation.Statuses)}.", nameof(status));
        }
    }

    /// <summary>The conversations at one moment; each order asked for is sorted once and kept.</summary>
    internal sealed class Snapshot(StoredConversation[] conversations)
    {
        private readonly ConcurrentDictionary<ConversationOrder, StoredConversation[]> _sorted = new();

        public StoredConversation[] Sorted(ConversationOrder order) => _sorted.GetOrAdd(order, o =>
        {
            var sorted = (StoredConversation[])conversations.Clone();
            Array.Sort(sorted, (x, y) => o.Compare(x.Conversation, y.Conversation));
            return sorted;
        });
    }
}
