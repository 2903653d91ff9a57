namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>Joins as a new instance with a lease of its own.</summary>
internal sealed class JoinOperation(string name, DateTimeOffset now, TimeSpan leaseTime) : WriteOperation<InstanceLease>
{
    protected override InstanceLease Run(WriterSession session)
    {
        var at = now.ToUnixTimeMilliseconds();
        var insert = session.Command("INSERT INTO instances (name, started_at, renewed_at, expires_at) VALUES ($name, $at, $at, $expires) RETURNING id");
        insert.Parameters.AddWithValue("$name", name);
        insert.Parameters.AddWithValue("$at", at);
        insert.Parameters.AddWithValue("$expires", (now + leaseTime).ToUnixTimeMilliseconds());
        return new InstanceLease((long)insert.ExecuteScalar()!, name);
    }
}

/// <summary>Renews an instance's lease (its claims with it); false when it left.</summary>
internal sealed class RenewInstanceOperation(long instanceId, DateTimeOffset now, TimeSpan leaseTime) : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var renew = session.Prepared("UPDATE instances SET renewed_at = $at, expires_at = $expires WHERE id = $id AND left_at IS NULL");
        WriterSession.Set(renew, "$id", instanceId);
        WriterSession.Set(renew, "$at", now.ToUnixTimeMilliseconds());
        WriterSession.Set(renew, "$expires", (now + leaseTime).ToUnixTimeMilliseconds());
        return renew.ExecuteNonQuery() == 1;
    }
}

/// <summary>Records the rule generation in force in an instance.</summary>
internal sealed class RecordRulesOperation(long instanceId, string generation) : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var record = session.Command("UPDATE instances SET rules_generation = $generation WHERE id = $id");
        record.Parameters.AddWithValue("$id", instanceId);
        record.Parameters.AddWithValue("$generation", generation);
        return record.ExecuteNonQuery() == 1;
    }
}

/// <summary>Leaves: the instance's lease ends now; its claims and named leases are free from then on.</summary>
internal sealed class LeaveOperation(long instanceId, DateTimeOffset now) : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var at = now.ToUnixTimeMilliseconds();
        var leave = session.Command("UPDATE instances SET expires_at = MIN(expires_at, $at), left_at = $at WHERE id = $id AND left_at IS NULL");
        leave.Parameters.AddWithValue("$id", instanceId);
        leave.Parameters.AddWithValue("$at", at);
        leave.ExecuteNonQuery();
        // Its conversation and intent claims need no write: a claim whose instance's lease ended is free (ClaimConversationsOperation, ClaimIntentsOperation).
        var leases = session.Command("UPDATE leases SET expires_at = MIN(expires_at, $at) WHERE instance_id = $id");
        leases.Parameters.AddWithValue("$id", instanceId);
        leases.Parameters.AddWithValue("$at", at);
        leases.ExecuteNonQuery();
        return true;
    }
}

/// <summary>
/// Claims conversations with pending deliveries for an instance: the ones named (hinted), or the next ones with a
/// backlog (a sweep). One statement per conversation takes it when it has pending work and nobody holds it, or its
/// holder's lease ended (its epoch advanced), or the instance holds it already (its epoch unchanged); a live other
/// holder's is left. The pending deliveries of each conversation claimed are read in the same transaction (up to
/// <see cref="PendingPrefetch.Rows"/>), so that a lane starts without a read of its own; a body is read only when its
/// producer's parsed conversation is not at hand (<see cref="RecentConversations"/>).
/// </summary>
internal sealed class ClaimConversationsOperation(
    long instanceId, IReadOnlyCollection<int>? conversations, int limit, DateTimeOffset now, SweepCursor? cursor = null,
    PendingPrefetch? prefetch = null)
    : WriteOperation<IReadOnlyList<ConversationClaim>>
{
    // Taken only with pending work, only from nobody, an ended holder, or itself (its epoch kept).
    private const string Take = $"""
        INSERT INTO conversations (id, claim_instance, claim_epoch)
        SELECT $conversation, $instance, 1 WHERE EXISTS (SELECT 1 FROM deliveries WHERE conversation_id = $conversation AND outcome = '{DeliveryOutcome.Pending}')
        ON CONFLICT (id) DO UPDATE SET
            claim_epoch = CASE WHEN claim_instance = $instance THEN claim_epoch ELSE claim_epoch + 1 END,
            claim_instance = $instance
        WHERE claim_instance IS NULL OR claim_instance = $instance
           OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = conversations.claim_instance AND i.expires_at > $now AND i.left_at IS NULL)
        RETURNING claim_epoch
        """;

    // SqliteMutation.ClaimExpiryIgnored: the holder's lease counts however long ago it expired.
    private static readonly string TakeIgnoringExpiry = Take.Replace("i.expires_at > $now AND ", "", StringComparison.Ordinal);

    // The sweep: the next conversation with pending deliveries after a conversation id, one seek in the backlog's partial
    // index. The sweep walks conversations in id order from where the previous one stopped, round and round, so that every
    // conversation with a backlog is reached however long another's is, and a sweep costs a seek per conversation, not a
    // read of the backlog.
    private const string NextWithBacklog = $"""
        SELECT MIN(conversation_id) FROM deliveries WHERE outcome = '{DeliveryOutcome.Pending}' AND conversation_id > $after
        """;

    protected override IReadOnlyList<ConversationClaim> Run(WriterSession session)
    {
        var claims = new List<ConversationClaim>();
        var candidates = conversations ?? Sweep(session);
        var take = session.Prepared(session.Mutations.HasFlag(SqliteMutation.ClaimExpiryIgnored) ? TakeIgnoringExpiry : Take);
        foreach (var conversationId in candidates)
        {
            if (claims.Count >= limit)
            {
                break;
            }

            WriterSession.Set(take, "$conversation", conversationId);
            WriterSession.Set(take, "$instance", instanceId);
            WriterSession.Set(take, "$now", now.ToUnixTimeMilliseconds());
            // Read to the end: an upsert's RETURNING row may come before its statement is done (ExecuteScalar would stop there).
            long? epoch = null;
            using (var reader = take.ExecuteReader())
            {
                while (reader.Read())
                {
                    epoch = reader.GetInt64(0);
                }
            }

            if (epoch is { } taken)
            {
                var claim = new ConversationClaim(conversationId, instanceId, taken);
                claims.Add(claim);
                prefetch?.Read(session, claim);
            }
        }

        return claims;
    }

    private List<int> Sweep(WriterSession session)
    {
        // Look at more conversations than the limit: some with a backlog are held by live instances.
        var scan = Math.Max(limit * 4, 64);
        var start = cursor?.After ?? int.MinValue;
        var after = start;
        var wrapped = start == int.MinValue;
        var ids = new List<int>();
        var next = session.Prepared(NextWithBacklog);
        while (ids.Count < scan)
        {
            WriterSession.Set(next, "$after", after);
            if (next.ExecuteScalar() is not long found || (wrapped && start != int.MinValue && found > start))
            {
                if (wrapped)
                {
                    break;
                }

                (wrapped, after) = (true, int.MinValue);
                continue;
            }

            ids.Add((int)found);
            after = (int)found;
        }

        if (cursor is not null)
        {
            cursor.After = ids.Count == scan ? after : int.MinValue;
        }

        return ids;
    }
}

/// <summary>Where the next sweep for pending work starts (after this conversation id), so that sweeps go round every conversation with a backlog.</summary>
internal sealed class SweepCursor
{
    public int After { get; set; } = int.MinValue;
}

/// <summary>
/// Releases a conversation's claim when it has no pending delivery left (false, claim kept, when it has).
/// Refused with <see cref="ClaimLostException"/> when the claim is no longer the conversation's.
/// </summary>
internal sealed class ReleaseConversationOperation(ConversationClaim claim, PendingPrefetch? prefetch = null) : WriteOperation<bool>
{
    private const string Release = $"""
        UPDATE conversations SET claim_instance = NULL
        WHERE id = $conversation AND NOT EXISTS (SELECT 1 FROM deliveries WHERE conversation_id = $conversation AND outcome = '{DeliveryOutcome.Pending}')
        """;

    protected override bool Run(WriterSession session)
    {
        ClaimFence.Check(session, claim);
        prefetch?.Invalidate(claim.ConversationId);
        var release = session.Prepared(Release);
        WriterSession.Set(release, "$conversation", claim.ConversationId);
        return release.ExecuteNonQuery() == 1;
    }
}

/// <summary>The fence: a write under a conversation claim goes ahead only while that claim is the conversation's.</summary>
internal static class ClaimFence
{
    private const string Current = "SELECT claim_instance, claim_epoch FROM conversations WHERE id = $conversation";

    /// <summary>Refuses (before anything is written) unless <paramref name="claim"/> is the conversation's claim now.</summary>
    /// <exception cref="WriteRefusedException">With a <see cref="ClaimLostException"/>: the claim was lost.</exception>
    public static void Check(WriterSession session, ConversationClaim claim)
    {
        var current = session.Prepared(Current);
        WriterSession.Set(current, "$conversation", claim.ConversationId);
        long? holder = null;
        long epoch = 0;
        using (var reader = current.ExecuteReader())
        {
            if (reader.Read())
            {
                holder = reader.IsDBNull(0) ? null : reader.GetInt64(0);
                epoch = reader.GetInt64(1);
            }
        }

        if (holder != claim.InstanceId || (epoch != claim.Epoch && !session.Mutations.HasFlag(SqliteMutation.EpochUnchecked)))
        {
            var now = holder is null ? $"nobody holds it (epoch {epoch})" : $"instance {holder} holds it at epoch {epoch}";
            throw new WriteRefusedException(new ClaimLostException(
                $"The claim of instance {claim.InstanceId} on conversation {claim.ConversationId} (epoch {claim.Epoch}) is lost: {now}. Nothing was written; the holder's writes stand."));
        }
    }
}

/// <summary>
/// Takes or renews a named lease: free, expired, or held by an instance whose lease ended, it goes to the asker with
/// its epoch advanced; held by the asker, it is renewed with its epoch as it is; held by a live other, <c>null</c>.
/// </summary>
internal sealed class AcquireLeaseOperation(string name, long instanceId, DateTimeOffset now, TimeSpan leaseTime) : WriteOperation<NamedLease?>
{
    private const string Current = """
        SELECT l.instance_id, l.epoch, l.expires_at > $now AND EXISTS (SELECT 1 FROM instances i WHERE i.id = l.instance_id AND i.expires_at > $now AND i.left_at IS NULL)
        FROM leases l WHERE l.name = $name
        """;

    private const string Take = """
        INSERT INTO leases (name, instance_id, epoch, acquired_at, expires_at) VALUES ($name, $instance, 1, $now, $expires)
        ON CONFLICT (name) DO UPDATE SET instance_id = excluded.instance_id, epoch = epoch + 1, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
        RETURNING epoch
        """;

    protected override NamedLease? Run(WriterSession session)
    {
        var at = now.ToUnixTimeMilliseconds();
        var expires = now + leaseTime;
        var asker = session.Command("SELECT 1 FROM instances WHERE id = $instance AND left_at IS NULL");
        asker.Parameters.AddWithValue("$instance", instanceId);
        if (asker.ExecuteScalar() is null)
        {
            return null; // an instance that left (or that the store ended) holds nothing any more
        }

        var current = session.Command(Current);
        current.Parameters.AddWithValue("$name", name);
        current.Parameters.AddWithValue("$now", at);
        long? holder = null;
        long epoch = 0;
        var alive = false;
        using (var reader = current.ExecuteReader())
        {
            if (reader.Read())
            {
                (holder, epoch, alive) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetBoolean(2));
            }
        }

        if (holder == instanceId && alive)
        {
            var renew = session.Command("UPDATE leases SET expires_at = $expires WHERE name = $name AND instance_id = $instance AND epoch = $epoch");
            renew.Parameters.AddWithValue("$name", name);
            renew.Parameters.AddWithValue("$instance", instanceId);
            renew.Parameters.AddWithValue("$epoch", epoch);
            renew.Parameters.AddWithValue("$expires", expires.ToUnixTimeMilliseconds());
            renew.ExecuteNonQuery();
            return new NamedLease(name, instanceId, epoch, expires);
        }

        if (holder is not null && alive)
        {
            return null;
        }

        var take = session.Command(Take);
        take.Parameters.AddWithValue("$name", name);
        take.Parameters.AddWithValue("$instance", instanceId);
        take.Parameters.AddWithValue("$now", at);
        take.Parameters.AddWithValue("$expires", expires.ToUnixTimeMilliseconds());
        long taken = 0;
        using (var reader = take.ExecuteReader())
        {
            while (reader.Read())
            {
                taken = reader.GetInt64(0); // read to the end: an upsert's RETURNING row may come before its statement is done
            }
        }

        return new NamedLease(name, instanceId, taken, expires);
    }
}

/// <summary>Gives a named lease up, when it is still held under that epoch.</summary>
internal sealed class ReleaseLeaseOperation(NamedLease lease, DateTimeOffset now) : WriteOperation<bool>
{
    protected override bool Run(WriterSession session)
    {
        var release = session.Command("UPDATE leases SET expires_at = MIN(expires_at, $now) WHERE name = $name AND instance_id = $instance AND epoch = $epoch");
        release.Parameters.AddWithValue("$name", lease.Name);
        release.Parameters.AddWithValue("$instance", lease.InstanceId);
        release.Parameters.AddWithValue("$epoch", lease.Epoch);
        release.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return release.ExecuteNonQuery() == 1;
    }
}

/// <summary>The fence of a named lease's holder: a write goes ahead only while the lease is held under its epoch.</summary>
internal static class LeaseFence
{
    /// <exception cref="WriteRefusedException">With a <see cref="ClaimLostException"/>: another holder took the lease.</exception>
    public static void Check(WriterSession session, NamedLease lease)
    {
        var current = session.Command("SELECT instance_id, epoch FROM leases WHERE name = $name");
        current.Parameters.AddWithValue("$name", lease.Name);
        using var reader = current.ExecuteReader();
        if (!reader.Read())
        {
            throw new WriteRefusedException(new ClaimLostException(
                $"The lease '{lease.Name}' of instance {lease.InstanceId} (epoch {lease.Epoch}) is not held by anyone; nothing was written."));
        }

        var (holder, epoch) = (reader.GetInt64(0), reader.GetInt64(1));
        if (holder != lease.InstanceId || epoch != lease.Epoch)
        {
            throw new WriteRefusedException(new ClaimLostException(
                $"The lease '{lease.Name}' of instance {lease.InstanceId} (epoch {lease.Epoch}) was taken over: instance {holder} holds it at epoch {epoch}. Nothing was written; the holder's writes stand."));
        }
    }
}
