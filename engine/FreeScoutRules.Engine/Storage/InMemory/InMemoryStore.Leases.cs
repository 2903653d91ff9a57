namespace FreeScoutRules.Engine.Storage.InMemory;

/// <summary>Instances and named leases (<see cref="ILeases"/>), on the store's clock.</summary>
internal sealed partial class InMemoryStore
{
    private readonly SortedDictionary<long, InstanceRow> _instances = [];
    private readonly SortedDictionary<string, LeaseRow> _leases = new(StringComparer.Ordinal);
    private long _lastInstanceId;

    public Task<InstanceLease> JoinAsync(string name, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Write(() =>
        {
            var now = _time.GetUtcNow();
            var instance = new InstanceRow { Id = ++_lastInstanceId, Name = name, StartedAt = now, RenewedAt = now, ExpiresAt = now + leaseTime };
            _instances.Add(instance.Id, instance);
            return new InstanceLease(instance.Id, name);
        }, null, cancellationToken);
    }

    public Task<bool> RenewAsync(InstanceLease instance, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return Write(() =>
        {
            if (!_instances.TryGetValue(instance.Id, out var row) || row.LeftAt is not null)
            {
                return false;
            }

            var now = _time.GetUtcNow();
            (row.RenewedAt, row.ExpiresAt) = (now, now + leaseTime);
            return true;
        }, null, cancellationToken);
    }

    public Task RecordRulesAsync(InstanceLease instance, string generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ArgumentException.ThrowIfNullOrEmpty(generation);
        return Write(() =>
        {
            if (_instances.TryGetValue(instance.Id, out var row))
            {
                row.RulesGeneration = generation;
            }

            return true;
        }, null, cancellationToken);
    }

    public Task LeaveAsync(InstanceLease instance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return Write(() =>
        {
            var now = _time.GetUtcNow();
            if (_instances.TryGetValue(instance.Id, out var row) && row.LeftAt is null)
            {
                (row.ExpiresAt, row.LeftAt) = (Min(row.ExpiresAt, now), now);
            }

            // Its conversation claims need no write: a claim whose instance's lease ended is free.
            foreach (var lease in _leases.Values.Where(l => l.InstanceId == instance.Id))
            {
                lease.ExpiresAt = Min(lease.ExpiresAt, now);
            }

            return true;
        }, null, cancellationToken);
    }

    public Task<IReadOnlyList<InstanceRecord>> ListInstancesAsync(DateTimeOffset since, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<InstanceRecord>>(() =>
        {
            var now = _time.GetUtcNow();
            return
            [
                .. _instances.Values.Reverse().Where(i => i.RenewedAt >= since).Take(100)
                    .Select(i => new InstanceRecord(i.Id, i.Name, i.StartedAt, i.RenewedAt, i.ExpiresAt, i.LeftAt, i.LeftAt is null && i.ExpiresAt > now)
                    {
                        RulesGeneration = i.RulesGeneration,
                    }),
            ];
        }, cancellationToken);

    public Task<NamedLease?> TryAcquireAsync(string name, InstanceLease holder, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(holder);
        return Write(() =>
        {
            var now = _time.GetUtcNow();
            var expires = now + leaseTime;
            if (!_instances.TryGetValue(holder.Id, out var asker) || asker.LeftAt is not null)
            {
                return null; // an instance that left holds nothing any more
            }

            _leases.TryGetValue(name, out var lease);
            var alive = lease is not null && lease.ExpiresAt > now && Alive(lease.InstanceId, now);
            if (lease is not null && alive)
            {
                if (lease.InstanceId != holder.Id)
                {
                    return null; // someone else holds it
                }

                lease.ExpiresAt = expires; // renewed by its holder, under the same epoch
                return new NamedLease(name, holder.Id, lease.Epoch, expires);
            }

            // Free, expired, or its holder's lease ended: the asker takes it, with its epoch advanced.
            lease ??= _leases[name] = new LeaseRow { Name = name };
            (lease.InstanceId, lease.Epoch, lease.AcquiredAt, lease.ExpiresAt) = (holder.Id, lease.Epoch + 1, now, expires);
            return new NamedLease(name, holder.Id, lease.Epoch, expires);
        }, null, cancellationToken);
    }

    public Task ReleaseAsync(NamedLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return Write(() =>
        {
            if (_leases.TryGetValue(lease.Name, out var row) && row.InstanceId == lease.InstanceId && row.Epoch == lease.Epoch)
            {
                row.ExpiresAt = Min(row.ExpiresAt, _time.GetUtcNow());
                return true;
            }

            return false; // taken over since: nothing of the new holder's changes
        }, null, cancellationToken);
    }

    public Task<IReadOnlyList<NamedLease>> ListLeasesAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<NamedLease>>(() => [.. _leases.Values.Select(l => new NamedLease(l.Name, l.InstanceId, l.Epoch, l.ExpiresAt))], cancellationToken);

    /// <summary>The fence of a named lease's holder: refuses unless <paramref name="lease"/> is still the lease's holder and epoch. Under the lock.</summary>
    private void LeaseFence(NamedLease lease)
    {
        if (!_leases.TryGetValue(lease.Name, out var current))
        {
            throw new ClaimLostException($"The lease '{lease.Name}' of instance {lease.InstanceId} (epoch {lease.Epoch}) is not held by anyone; nothing was written.");
        }

        if (current.InstanceId != lease.InstanceId || current.Epoch != lease.Epoch)
        {
            throw new ClaimLostException(
                $"The lease '{lease.Name}' of instance {lease.InstanceId} (epoch {lease.Epoch}) was taken over: instance {current.InstanceId} holds it at epoch {current.Epoch}. Nothing was written; the holder's writes stand.");
        }
    }

    /// <summary>True while the instance's lease runs: not expired, not left.</summary>
    private bool Alive(long instanceId, DateTimeOffset now) =>
        _instances.TryGetValue(instanceId, out var instance) && instance.LeftAt is null && instance.ExpiresAt > now;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private sealed class InstanceRow
    {
        public required long Id { get; init; }

        public required string Name { get; init; }

        public DateTimeOffset StartedAt { get; init; }

        public DateTimeOffset RenewedAt { get; set; }

        public DateTimeOffset ExpiresAt { get; set; }

        public DateTimeOffset? LeftAt { get; set; }

        public string? RulesGeneration { get; set; }
    }

    private sealed class LeaseRow
    {
        public required string Name { get; init; }

        public long InstanceId { get; set; }

        public long Epoch { get; set; }

        public DateTimeOffset AcquiredAt { get; set; }

        public DateTimeOffset ExpiresAt { get; set; }
    }
}
