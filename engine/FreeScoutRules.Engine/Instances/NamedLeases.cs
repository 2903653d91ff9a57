using System.Globalization;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Instances;

/// <summary>
/// This process's named leases for singleton work (docs/design.md, "Claims and fences"): reconciliation and retention run
/// only while this instance holds their lease. A lease is taken from the store (one holder at a time; a new holder
/// advances its epoch), renewed every quarter of <see cref="LeaseTime"/> while held, on the store's clock, and lost when
/// another instance took it or it could not be renewed before it ended: the work under it is cancelled
/// (<see cref="HeldLease.Lost"/>), and the store refuses the holder's fenced writes in any case. Within the process one
/// lease per name is shared by whoever needs it (a periodic loop and a pass asked for by hand) and given back when the
/// last of them is done. Thread-safe.
/// </summary>
/// <remarks>instance: this process's instance lease in force (<see cref="InstanceLeaseKeeper.Current"/>).</remarks>
/// <remarks>time: the store's clock (lease times are the store's).</remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Design", "CA1001", Justification = "The SemaphoreSlim's wait handle is never asked for, so it owns nothing to free; a loop may outlive the container.")]
internal sealed partial class NamedLeases(
    ILeases leases, Func<InstanceLease> instance, TimeSpan leaseTime, TimeProvider time, EngineMetrics metrics, ILogger<NamedLeases> logger)
{
    /// <summary>The lease of reconciliation passes (and so of the requests they send FreeScout).</summary>
    public const string Reconciliation = "reconciliation";

    /// <summary>The lease of retention's pruning.</summary>
    public const string Retention = "retention";

    /// <summary>How long after the moment a lease could be free a standby looks (the end is compared with the store's clock, in the store).</summary>
    private static readonly TimeSpan StandbyMargin = TimeSpan.FromMilliseconds(50);

    /// <summary>How far back <see cref="HolderAsync"/> looks for the holder's instance (a live one renewed within its lease time).</summary>
    private static readonly TimeSpan InstancesSeen = TimeSpan.FromHours(1);

    private readonly SemaphoreSlim _taking = new(1, 1);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, HeldLease> _held = new(StringComparer.Ordinal);

    /// <summary>How long a lease lasts unless renewed.</summary>
    public TimeSpan LeaseTime => leaseTime;

    private ILeases Store => leases;

    private TimeProvider Clock => time;

    private EngineMetrics Metrics => metrics;

    private ILogger Logger => logger;

    /// <summary>How often a holder renews its lease; an instance standing by looks whether the lease is free at least this often.</summary>
    public TimeSpan RenewEvery => leaseTime / 4;

    /// <summary>
    /// Takes the lease <paramref name="name"/> (or shares it, when this process holds it already) and keeps it renewed until
    /// the last of its users disposes it; <c>null</c> when another live instance holds it (<see cref="HolderAsync"/> says who).
    /// </summary>
    /// <exception cref="StorageException">The store could not be asked.</exception>
    public async Task<HeldLease?> TryHoldAsync(string name, CancellationToken cancellationToken)
    {
        await _taking.WaitAsync(cancellationToken);
        try
        {
            lock (_gate)
            {
                if (_held.TryGetValue(name, out var shared) && shared.TryAddUse())
                {
                    return shared;
                }
            }

            var holder = instance();
            var lease = await leases.TryAcquireAsync(name, holder, leaseTime, cancellationToken);
            if (lease is null)
            {
                return null;
            }

            var held = new HeldLease(this, lease, holder);
            lock (_gate)
            {
                _held[name] = held;
            }

            held.StartRenewing();
            LogTaken(logger, name, holder.Id, lease.Epoch, lease.ExpiresAt);
            return held;
        }
        finally
        {
            _taking.Release();
        }
    }

    /// <summary>
    /// Takes (or shares) the lease <paramref name="name"/> like <see cref="TryHoldAsync"/>, for work asked for by hand.
    /// </summary>
    /// <exception cref="LeaseHeldElsewhereException">Another live instance holds it (which, until when).</exception>
    /// <exception cref="StorageException">The store could not be asked.</exception>
    public async Task<HeldLease> HoldOrRefuseAsync(string name, CancellationToken cancellationToken)
    {
        // The holder read after a refusal may have given the lease up meanwhile: then it is tried again.
        for (var attempt = 1; ; attempt++)
        {
            if (await TryHoldAsync(name, cancellationToken) is { } held)
            {
                return held;
            }

            if (await HolderAsync(name, cancellationToken) is { } holder)
            {
                throw new LeaseHeldElsewhereException(holder);
            }

            if (attempt == 3)
            {
                var reason = $"The lease '{name}' was refused three times, yet nobody held it when asked; try again.";
                throw new StorageException(reason, new InvalidOperationException(reason));
            }
        }
    }

    /// <summary>Who holds <paramref name="name"/> now (a live instance, before the lease's end), or <c>null</c> when nobody does.</summary>
    /// <exception cref="StorageException">The store could not be read.</exception>
    public async Task<LeaseHolder?> HolderAsync(string name, CancellationToken cancellationToken)
    {
        var lease = (await leases.ListLeasesAsync(cancellationToken)).FirstOrDefault(l => l.Name == name);
        var now = time.GetUtcNow();
        if (lease is null || lease.ExpiresAt <= now)
        {
            return null;
        }

        var holder = (await leases.ListInstancesAsync(now - InstancesSeen, cancellationToken)).FirstOrDefault(i => i.Id == lease.InstanceId);
        return holder is { Alive: true } ? new LeaseHolder(lease, holder.Name, holder.ExpiresAt) : null;
    }

    /// <summary>
    /// Who holds what, for <c>/api/status</c> and the console: the instances seen in the last <paramref name="instancesSince"/>
    /// (alive or not, newest first), every named lease with its holder and whether it is held now, and this instance's id.
    /// </summary>
    /// <exception cref="StorageException">The store could not be read.</exception>
    public async Task<LeasesOverview> OverviewAsync(TimeSpan instancesSince, long? self, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var instances = await leases.ListInstancesAsync(now - (instancesSince > InstancesSeen ? instancesSince : InstancesSeen), cancellationToken);
        var named = await leases.ListLeasesAsync(cancellationToken);
        var byId = instances.ToDictionary(i => i.Id);
        return new LeasesOverview(
            [.. instances.Where(i => i.Alive || i.RenewedAt >= now - instancesSince)],
            [.. named.Select(l => byId.TryGetValue(l.InstanceId, out var holder)
                ? new LeaseState(l, holder.Name, holder.Alive && l.ExpiresAt > now)
                : new LeaseState(l, null, false))],
            self);
    }

    /// <summary>
    /// Runs <paramref name="work"/> for as long as this instance holds <paramref name="name"/>, until stopped: takes the lease
    /// when it is free, runs the work under a token that is cancelled when the lease is lost, and gives the lease back when the
    /// work ends. While another instance holds it, stands by (<paramref name="standby"/> hears who) and looks again just after
    /// the lease could be free, at the latest after <see cref="RenewEvery"/> (<see cref="StandByFor"/>); a lease lost is taken
    /// again once free. The work is the holder's loop: it runs until cancelled.
    /// </summary>
    public async Task RunWhileHoldingAsync(
        string name, Func<HeldLease, CancellationToken, Task> work, Func<LeaseHolder, CancellationToken, Task>? standby, CancellationToken cancellationToken)
    {
        long? announced = null;
        try
        {
            while (true)
            {
                HeldLease? held = null;
                LeaseHolder? other = null;
                try
                {
                    // A read first: an instance standing by writes nothing while another holds the lease.
                    other = await HolderAsync(name, cancellationToken);
                    if (other is null || other.Lease.InstanceId == instance().Id)
                    {
                        held = await TryHoldAsync(name, cancellationToken);
                        other = held is null ? await HolderAsync(name, cancellationToken) : null;
                    }
                }
                catch (Exception ex) when (ex is StorageException or InvalidOperationException)
                {
                    // InvalidOperationException: the store stopped taking writes, or this instance has not joined yet.
                    metrics.StorageFailed("lease");
                    LogTakeFailed(logger, ex, name);
                }

                if (held is null)
                {
                    if (other is not null)
                    {
                        if (announced != other.Lease.InstanceId)
                        {
                            LogStandingBy(logger, name, other.Lease.InstanceId, other.InstanceName, other.Lease.ExpiresAt);
                            announced = other.Lease.InstanceId;
                        }

                        if (standby is not null)
                        {
                            await standby(other, cancellationToken);
                        }
                    }

                    await Task.Delay(other is null ? RenewEvery : StandByFor(other), time, cancellationToken);
                    continue;
                }

                announced = null;
                await using (held)
                {
                    using var underLease = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, held.Lost);
                    try
                    {
                        await work(held, underLease.Token);
                    }
                    catch (OperationCanceledException) when (held.IsLost && !cancellationToken.IsCancellationRequested)
                    {
                        // Lost (the lease logged why): stand by, or take it again once free.
                    }
                }

                if (!held.IsLost)
                {
                    await Task.Delay(RenewEvery, time, cancellationToken); // the work ended by itself: not at once again
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// How long an instance standing by waits before it looks again: until the lease could be free (its end, or its
    /// holder's instance lease's end, whichever comes first: a holder that died frees it then) and a moment more, at most
    /// <see cref="RenewEvery"/>. A holder that lives renews its instance lease every quarter of <c>Dispatch:LeaseTime</c>,
    /// so a standby looks about every <c>Dispatch:LeaseTime</c> (two reads); one that died is replaced within moments of
    /// its instance lease's end, not up to a quarter of <see cref="LeaseTime"/> later.
    /// </summary>
    internal TimeSpan StandByFor(LeaseHolder holder)
    {
        var free = holder.Lease.ExpiresAt < holder.InstanceExpiresAt ? holder.Lease.ExpiresAt : holder.InstanceExpiresAt;
        var wait = free - time.GetUtcNow() + StandbyMargin;
        return wait < StandbyMargin ? StandbyMargin : wait > RenewEvery ? RenewEvery : wait;
    }

    /// <summary>Gives <paramref name="held"/> back in the store once its last user is done (under the taking gate: a new taking waits for it).</summary>
    private async Task ReleaseAsync(HeldLease held)
    {
        await _taking.WaitAsync(CancellationToken.None);
        try
        {
            lock (_gate)
            {
                if (!held.TryRelease())
                {
                    return; // taken up again meanwhile
                }

                if (_held.TryGetValue(held.Name, out var current) && current == held)
                {
                    _held.Remove(held.Name);
                }
            }

            await held.StopRenewingAsync();
            try
            {
                await leases.ReleaseAsync(held.Lease, CancellationToken.None);
            }
            catch (Exception ex) when (ex is StorageException or InvalidOperationException)
            {
                // InvalidOperationException: the store stopped taking writes (the process stops); the lease ends by itself.
                metrics.StorageFailed("lease");
                LogReleaseFailed(logger, ex, held.Name, held.Lease.ExpiresAt);
            }
        }
        finally
        {
            _taking.Release();
        }
    }

    private void Lost(HeldLease held, string reason)
    {
        lock (_gate)
        {
            if (_held.TryGetValue(held.Name, out var current) && current == held)
            {
                _held.Remove(held.Name); // the next taking starts afresh
            }
        }

        metrics.ClaimLost("lease");
        LogLost(logger, held.Name, held.Lease.InstanceId, held.Lease.Epoch, reason);
    }

    /// <summary>
    /// A named lease this process holds: <see cref="Lease"/> (its epoch fences the holder's writes), and <see cref="Lost"/>,
    /// cancelled once it is lost. Shared within the process; each user disposes it once. Thread-safe.
    /// </summary>
    internal sealed class HeldLease : IAsyncDisposable
    {
        private readonly NamedLeases _owner;
        private readonly InstanceLease _holder;
        private readonly CancellationTokenSource _lost = new();
        private readonly CancellationTokenSource _stop = new();
        private NamedLease _lease;
        private Task _renewing = Task.CompletedTask;
        private int _uses = 1;
        private bool _released;
        private bool _isLost;

        internal HeldLease(NamedLeases owner, NamedLease lease, InstanceLease holder)
        {
            _owner = owner;
            _lease = lease;
            _holder = holder;
        }

        public string Name => _lease.Name;

        /// <summary>The lease as taken (its holder and epoch never change) and last renewed (its end).</summary>
        public NamedLease Lease => Volatile.Read(ref _lease);

        /// <summary>Cancelled once the lease is lost: another instance took it, or it ended before it could be renewed.</summary>
        public CancellationToken Lost => _lost.Token;

        public bool IsLost => Volatile.Read(ref _isLost);

        /// <summary>Why it was lost, or <c>null</c>.</summary>
        public string? LostReason { get; private set; }

        /// <summary>Marks the lease lost (a fenced write of its holder was refused): its work stops.</summary>
        public void MarkLost(string reason)
        {
            lock (_owner._gate)
            {
                if (_isLost || _released)
                {
                    return;
                }

                LostReason = reason;
                Volatile.Write(ref _isLost, true);
            }

            _owner.Lost(this, reason);
            _lost.Cancel();
        }

        public ValueTask DisposeAsync()
        {
            lock (_owner._gate)
            {
                if (--_uses > 0)
                {
                    return ValueTask.CompletedTask;
                }
            }

            return new ValueTask(_owner.ReleaseAsync(this));
        }

        /// <summary>
        /// Another user in this process (under the owner's gate and its taking gate); false once lost or given back. A lease
        /// whose last user is done but that is not given back yet is taken up again: its giving back then does nothing.
        /// </summary>
        internal bool TryAddUse()
        {
            if (_released || IsLost)
            {
                return false;
            }

            _uses++;
            return true;
        }

        /// <summary>True when nobody uses it any more (under the owner's gate): it is given back.</summary>
        internal bool TryRelease()
        {
            if (_uses > 0 || _released)
            {
                return false;
            }

            _released = true;
            return true;
        }

        internal void StartRenewing() => _renewing = RenewAsync(_stop.Token);

        internal async Task StopRenewingAsync()
        {
            await _stop.CancelAsync();
            await _renewing;
            _stop.Dispose();
            _lost.Dispose();
        }

        /// <summary>Renews every quarter of the lease time; after a failure, tries again until the lease's end, where it is lost.</summary>
        private async Task RenewAsync(CancellationToken stop)
        {
            var owner = _owner;
            var failing = false;
            try
            {
                while (true)
                {
                    var wait = owner.RenewEvery;
                    if (failing)
                    {
                        var left = Lease.ExpiresAt - owner.Clock.GetUtcNow();
                        if (left <= TimeSpan.Zero)
                        {
                            MarkLost(string.Create(CultureInfo.InvariantCulture, $"it could not be renewed before it ended at {Lease.ExpiresAt:u}; another instance may hold it now"));
                            return;
                        }

                        wait = left < wait ? left : wait;
                    }

                    await Task.Delay(wait, owner.Clock, stop);
                    try
                    {
                        var renewed = await owner.Store.TryAcquireAsync(Name, _holder, owner.LeaseTime, stop);
                        if (renewed is null)
                        {
                            MarkLost("another instance holds it now");
                            return;
                        }

                        if (renewed.Epoch != Lease.Epoch)
                        {
                            // It ended before this renewal (a pause, a slow store): taken again, so anyone may have held it between.
                            MarkLost(string.Create(CultureInfo.InvariantCulture, $"it ended before it was renewed and was taken again at epoch {renewed.Epoch}"));
                            return;
                        }

                        Volatile.Write(ref _lease, renewed);
                        failing = false;
                    }
                    catch (Exception ex) when (ex is StorageException or InvalidOperationException)
                    {
                        // InvalidOperationException: the store stopped taking writes.
                        owner.Metrics.StorageFailed("lease");
                        LogRenewFailed(owner.Logger, ex, Name, Lease.ExpiresAt);
                        failing = true;
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Took the lease '{Lease}' (instance {InstanceId}, epoch {Epoch}, until {ExpiresAt:o} unless renewed): its singleton work runs in this instance")]
    private static partial void LogTaken(ILogger logger, string lease, long instanceId, long epoch, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Lost the lease '{Lease}' (instance {InstanceId}, epoch {Epoch}): {Reason}. Its work here stops; its fenced writes would be refused")]
    private static partial void LogLost(ILogger logger, string lease, long instanceId, long epoch, string reason);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Could not renew the lease '{Lease}' (it ends at {ExpiresAt:o}); trying again until then")]
    private static partial void LogRenewFailed(ILogger logger, Exception exception, string lease, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Information, Message = "Instance {InstanceId} ({InstanceName}) holds the lease '{Lease}' (until {ExpiresAt:o} unless renewed): its singleton work runs there; this instance stands by")]
    private static partial void LogStandingBy(ILogger logger, string lease, long instanceId, string instanceName, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "Could not give the lease '{Lease}' back; another instance may take it once it ends at {ExpiresAt:o}")]
    private static partial void LogReleaseFailed(ILogger logger, Exception exception, string lease, DateTimeOffset expiresAt);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Warning, Message = "Could not ask the store for the lease '{Lease}'; trying again")]
    private static partial void LogTakeFailed(ILogger logger, Exception exception, string lease);
}

/// <summary>
/// A named lease's live holder, for a refusal's message and <c>/api/status</c>; <see cref="InstanceExpiresAt"/>: when the
/// holder's instance lease ends unless it renews it (a holder that died frees the named lease then).
/// </summary>
internal sealed record LeaseHolder(NamedLease Lease, string InstanceName, DateTimeOffset InstanceExpiresAt)
{
    /// <summary>"instance 7 (host:1234) until 2026-12-01 10:00:00Z".</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"instance {Lease.InstanceId} ({InstanceName}) until {Lease.ExpiresAt:u} unless renewed");
}

/// <summary>A named lease as it stands: its holder's name (when the instance is still listed) and whether it is held now (before its end, by a live instance).</summary>
internal sealed record LeaseState(NamedLease Lease, string? InstanceName, bool Held);

/// <summary>Instances and named leases, for <c>/api/status</c> and the console; <see cref="Self"/>: this instance's id.</summary>
internal sealed record LeasesOverview(IReadOnlyList<InstanceRecord> Instances, IReadOnlyList<LeaseState> Leases, long? Self);

/// <summary>Singleton work refused here: another instance holds its lease (<see cref="Holder"/>: which, and until when).</summary>
internal sealed class LeaseHeldElsewhereException(LeaseHolder holder)
    : InvalidOperationException($"Another instance holds the lease '{holder.Lease.Name}': {holder}. Its work runs there; ask that instance, or try again once its lease ends.")
{
    public LeaseHolder Holder { get; } = holder;
}
