using System.Collections.Concurrent;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// The pending deliveries of conversations just claimed, read in the claim's own transaction (prepared statements on the
/// writer's connection) and handed to the claim's first <see cref="IInbox.LoadPendingAsync"/>, unless a write to the
/// conversation came between (<see cref="Invalidate"/>): a lane starts without a read of its own. The bodies stay compressed until then (decoded on the caller's thread, not the writer's), and are
/// not read at all when the producer's parsed conversation is at hand. Thread-safe.
/// </summary>
internal sealed class PendingPrefetch(RecentConversations recent)
{
    /// <summary>Deliveries read per claim: a lane's batch, and one more to know whether more wait.</summary>
    public const int Rows = 33;

    // LIMIT is written out, not bound: SQLite (3.46 on) plans with a bound LIMIT's value and marks the statement to be
    // prepared again whenever that parameter is bound again, which is every run (docs/benchmarks.md §15).
    private static readonly string Pending = $"""
        SELECT id, event, seq, received_at, attempts, result FROM deliveries
        WHERE conversation_id = $conversation AND outcome = '{DeliveryOutcome.Pending}' ORDER BY seq LIMIT {Rows}
        """;

    private const string Body = "SELECT body, encoding FROM delivery_bodies WHERE delivery_id = $id";

    private readonly ConcurrentDictionary<int, (ConversationClaim Claim, List<Row> Rows)> _read = new();

    /// <summary>Reads the claimed conversation's pending deliveries, on the writer's session, for its first load.</summary>
    public void Read(WriterSession session, ConversationClaim claim)
    {
        var rows = new List<Row>();
        var pending = session.Prepared(Pending);
        WriterSession.Set(pending, "$conversation", claim.ConversationId);
        using (var reader = pending.ExecuteReader())
        {
            while (reader.Read())
            {
                rows.Add(new Row(
                    reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
                    reader.GetInt32(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
            }
        }

        foreach (var row in rows.Where(r => !recent.Has(r.Id)))
        {
            var body = session.Prepared(Body);
            WriterSession.Set(body, "$id", row.Id);
            using var reader = body.ExecuteReader();
            if (reader.Read())
            {
                (row.Compressed, row.Encoding) = ((byte[])reader.GetValue(0), reader.IsDBNull(1) ? null : reader.GetString(1));
            }
        }

        _read[claim.ConversationId] = (claim, rows);
    }

    /// <summary>
    /// Drops what was read for a conversation: a write to it (a delivery stored, committed, failed, requeued, a release)
    /// ran after the claim, in the writer's order, so the next load reads the store. Call from inside the write.
    /// </summary>
    public void Invalidate(int conversationId) => _read.TryRemove(conversationId, out _);

    /// <summary>What was read for <paramref name="claim"/>, once, when it answers a load of <paramref name="limit"/>; else <c>null</c> (read from the store).</summary>
    public IReadOnlyList<StoredDelivery>? Take(ConversationClaim claim, int limit)
    {
        if (!_read.TryRemove(claim.ConversationId, out var read) || read.Claim != claim)
        {
            return null; // none read (or written to since), or read for another claim
        }

        var rows = read.Rows;
        if (rows.Count >= Rows && limit > rows.Count)
        {
            return null; // more pending than were read, and asked for
        }

        var pending = new List<StoredDelivery>(Math.Min(limit, rows.Count));
        foreach (var row in rows.Take(limit))
        {
            var parsed = row.Compressed is null ? recent.Take(row.Id) : null;
            if (row.Compressed is null && parsed is null)
            {
                return null; // its parsed conversation went (the cache started over) and its body was not read: read it all
            }

            pending.Add(new StoredDelivery(
                row.Id, row.Event, row.Compressed is null ? null : BodyEncoding.Decode(row.Compressed, row.Encoding), claim.ConversationId, row.Sequence,
                row.ReceivedAt, row.Attempts, DeliveryOutcome.Pending, DeliveryResult.FromJson(row.Result))
            {
                Parsed = parsed,
            });
        }

        return pending;
    }

    private sealed class Row(long id, string @event, long sequence, DateTimeOffset receivedAt, int attempts, string? result)
    {
        public long Id { get; } = id;

        public string Event { get; } = @event;

        public long Sequence { get; } = sequence;

        public DateTimeOffset ReceivedAt { get; } = receivedAt;

        public int Attempts { get; } = attempts;

        public string? Result { get; } = result;

        public byte[]? Compressed { get; set; }

        public string? Encoding { get; set; }
    }
}
