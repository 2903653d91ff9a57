using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>Instances and named leases (<see cref="ILeases"/>), on the store's clock.</summary>
internal sealed partial class PostgresStorage
{
    private const string Join = "INSERT INTO instances (name, started_at, renewed_at, expires_at) VALUES (@name, @at, @at, @expires) RETURNING id";

    private const string Renew = "UPDATE instances SET renewed_at = @at, expires_at = @expires WHERE id = @instance AND left_at IS NULL";

    // Leaving ends the instance's lease now, and with it its named leases. Its conversation and intent claims need no
    // write: a claim whose instance's lease ended is free.
    private const string Leave = "UPDATE instances SET expires_at = LEAST(expires_at, @at), left_at = @at WHERE id = @instance AND left_at IS NULL";

    private const string LeaveLeases = "UPDATE leases SET expires_at = LEAST(expires_at, @at) WHERE instance_id = @instance";

    // Taken when nobody holds it, it ended, or its holder's instance lease ended (its epoch advanced); renewed under the
    // same epoch for its live holder; left alone (nothing returned) while a live other holds it, or when the asker left.
    // ON CONFLICT DO UPDATE locks the row and decides on its latest version: two asking at once, one gets it.
    private const string Acquire = $"""
        INSERT INTO leases AS l (name, instance_id, epoch, acquired_at, expires_at)
        SELECT @name, @instance, 1, @now, @expires WHERE EXISTS (SELECT 1 FROM instances WHERE id = @instance AND left_at IS NULL)
        ON CONFLICT (name) DO UPDATE SET
            epoch = CASE WHEN l.instance_id = @instance AND {LeaseAlive} THEN l.epoch ELSE l.epoch + 1 END,
            acquired_at = CASE WHEN l.instance_id = @instance AND {LeaseAlive} THEN l.acquired_at ELSE excluded.acquired_at END,
            instance_id = excluded.instance_id, expires_at = excluded.expires_at
        WHERE l.instance_id = @instance OR NOT {LeaseAlive}
        RETURNING epoch
        """;

    /// <summary>The lease <c>l</c> runs: not ended, and its holder's instance lease neither expired nor left.</summary>
    private const string LeaseAlive =
        "(l.expires_at > @now AND EXISTS (SELECT 1 FROM instances i WHERE i.id = l.instance_id AND i.expires_at > @now AND i.left_at IS NULL))";

    private const string ReleaseLease = "UPDATE leases SET expires_at = LEAST(expires_at, @now) WHERE name = @name AND instance_id = @instance AND epoch = @epoch";

    public async Task<InstanceLease> JoinAsync(string name, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var now = _time.GetUtcNow();
        var id = await WriteAsync(
            async (transaction, ct) =>
            {
                await using var join = transaction.Command(Join);
                join.Parameters.Text("name", name).Time("at", now).Time("expires", now + leaseTime);
                return (long)(await join.ExecuteScalarAsync(ct))!;
            },
            cancellationToken);
        return new InstanceLease(id, name);
    }

    public Task<bool> RenewAsync(InstanceLease instance, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        var now = _time.GetUtcNow();
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var renew = transaction.Command(Renew);
                renew.Parameters.Bigint("instance", instance.Id).Time("at", now).Time("expires", now + leaseTime);
                return await renew.ExecuteNonQueryAsync(ct) == 1;
            },
            cancellationToken);
    }

    public Task RecordRulesAsync(InstanceLease instance, string generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ArgumentException.ThrowIfNullOrEmpty(generation);
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var record = transaction.Command("UPDATE instances SET rules_generation = @generation WHERE id = @instance");
                record.Parameters.Bigint("instance", instance.Id).Text("generation", generation);
                return await record.ExecuteNonQueryAsync(ct) == 1;
            },
            cancellationToken);
    }

    public Task LeaveAsync(InstanceLease instance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        var now = _time.GetUtcNow();
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var leave = transaction.Batch(Leave, LeaveLeases);
                foreach (NpgsqlBatchCommand statement in leave.BatchCommands)
                {
                    statement.Parameters.Bigint("instance", instance.Id).Time("at", now);
                }

                await leave.ExecuteNonQueryAsync(ct);
                return true;
            },
            cancellationToken);
    }

    public Task<IReadOnlyList<InstanceRecord>> ListInstancesAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return ReadAsync<IReadOnlyList<InstanceRecord>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    "SELECT id, name, started_at, renewed_at, expires_at, left_at, rules_generation FROM instances WHERE renewed_at >= @since ORDER BY id DESC LIMIT 100", connection);
                command.Parameters.Time("since", since);
                var instances = new List<InstanceRecord>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    var (expires, left) = (reader.Time(4), reader.TimeOrNull(5));
                    instances.Add(new InstanceRecord(reader.GetInt64(0), reader.GetString(1), reader.Time(2), reader.Time(3), expires, left, left is null && expires > now)
                    {
                        RulesGeneration = reader.IsDBNull(6) ? null : reader.GetString(6),
                    });
                }

                return instances;
            },
            cancellationToken);
    }

    public async Task<NamedLease?> TryAcquireAsync(string name, InstanceLease holder, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(holder);
        var now = _time.GetUtcNow();
        var expires = now + leaseTime;
        var epoch = await WriteAsync(
            async (transaction, ct) =>
            {
                await using var acquire = transaction.Command(Acquire);
                acquire.Parameters.Text("name", name).Bigint("instance", holder.Id).Time("now", now).Time("expires", expires);
                return await acquire.ExecuteScalarAsync(ct) as long?;
            },
            cancellationToken);
        return epoch is { } held ? new NamedLease(name, holder.Id, held, expires) : null;
    }

    public Task ReleaseAsync(NamedLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var now = _time.GetUtcNow();
        return WriteAsync(
            async (transaction, ct) =>
            {
                await using var release = transaction.Command(ReleaseLease);
                release.Parameters.Text("name", lease.Name).Bigint("instance", lease.InstanceId).Bigint("epoch", lease.Epoch).Time("now", now);
                return await release.ExecuteNonQueryAsync(ct) == 1;
            },
            cancellationToken);
    }

    public Task<IReadOnlyList<NamedLease>> ListLeasesAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<NamedLease>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT name, instance_id, epoch, expires_at FROM leases ORDER BY name COLLATE \"C\"", connection);
                var leases = new List<NamedLease>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    leases.Add(new NamedLease(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.Time(3)));
                }

                return leases;
            },
            cancellationToken);

    /// <summary>
    /// The fence of a named lease's holder, read under the lease row's lock in the writing transaction: refuses, with
    /// <see cref="ClaimLostException"/> (the transaction then rolls back), unless <paramref name="lease"/> is still the
    /// lease's holder and epoch.
    /// </summary>
    private static async Task CheckLeaseAsync(Transaction transaction, NamedLease lease, CancellationToken cancellationToken)
    {
        await using var current = transaction.Command("SELECT instance_id, epoch FROM leases WHERE name = @name FOR UPDATE");
        current.Parameters.Text("name", lease.Name);
        await using var reader = await current.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new ClaimLostException($"The lease '{lease.Name}' of instance {lease.InstanceId} (epoch {lease.Epoch}) is not held by anyone; nothing was written.");
        }

        var (holder, epoch) = (reader.GetInt64(0), reader.GetInt64(1));
        if (holder != lease.InstanceId || epoch != lease.Epoch)
        {
            throw new ClaimLostException(
                $"The lease '{lease.Name}' of instance {lease.InstanceId} (epoch {lease.Epoch}) was taken over: instance {holder} holds it at epoch {epoch}. Nothing was written; the holder's writes stand.");
        }
    }
}
