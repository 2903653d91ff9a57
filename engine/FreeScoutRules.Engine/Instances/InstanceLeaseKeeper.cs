using System.Globalization;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Instances;

/// <summary>
/// This process's instance lease (docs/design.md, "Claims and fences"): joins the store as a new instance at start,
/// renews the lease every quarter of its time for as long as the process runs (whatever the work does: a slow
/// evaluation or a hanging action never lets it lapse), and leaves at stop, which frees its claims at once. Every
/// claim (conversations, intents) and named lease refers to it. Thread-safe. With <paramref name="rulesGeneration"/>, it
/// also records the rule generation in force here whenever it changed (and after every join), and, with
/// <paramref name="rollout"/>, looks at the generations the live instances run every lease time.
/// </summary>
internal sealed partial class InstanceLeaseKeeper(
    ILeases leases, TimeSpan leaseTime, TimeProvider time, EngineMetrics metrics, ILogger<InstanceLeaseKeeper> logger,
    Func<string?>? rulesGeneration = null, RulesRollout? rollout = null)
{
    /// <summary>Ticks (each a quarter of the lease time) between two looks at the generations the instances run.</summary>
    private const int RolloutEvery = 4;

    private readonly Lock _gate = new();
    private InstanceLease? _current;
    private DateTimeOffset _renewedAt;
    private string? _failure;
    private (long Instance, string Generation)? _recorded;
    private int _ticks;

    /// <summary>The lease in force; joins first.</summary>
    /// <exception cref="InvalidOperationException">Not joined yet.</exception>
    public InstanceLease Current => _current ?? throw new InvalidOperationException("The instance has not joined the store yet.");

    /// <summary>The lease in force, or <c>null</c> before the join.</summary>
    public InstanceLease? Joined => _current;

    /// <summary>The name this instance joins with: host and process id, for people reading <c>/api/status</c>.</summary>
    public static string DefaultName => $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>Joins (once); the caller starts the work that claims only after it.</summary>
    public async Task<InstanceLease> JoinAsync(string name, CancellationToken cancellationToken)
    {
        _current ??= await leases.JoinAsync(name, leaseTime, cancellationToken);
        Renewed();
        LogJoined(logger, _current.Id, _current.Name, leaseTime);
        await RecordRulesAsync(cancellationToken);
        return _current;
    }

    /// <summary>Records the rule generation in force here unless the store has it already for this instance.</summary>
    private async Task RecordRulesAsync(CancellationToken cancellationToken)
    {
        if (rulesGeneration?.Invoke() is { } generation && _current is { } current && _recorded != (current.Id, generation))
        {
            await leases.RecordRulesAsync(current, generation, cancellationToken);
            _recorded = (current.Id, generation);
        }
    }

    /// <summary>
    /// Why this instance cannot count on its work, for <c>/readyz</c>, or <c>null</c>: its lease's last renewal failed (the
    /// store did not answer: it says why), or none succeeded for longer than the lease lasts (a renewal hangs: the store is
    /// cut off). Other instances take the work of an instance in that state over. Nothing is asked of the store here: the
    /// renewals, every quarter of the lease time, are the probe.
    /// </summary>
    public string? Problem
    {
        get
        {
            DateTimeOffset renewedAt;
            string? failure;
            lock (_gate)
            {
                (renewedAt, failure) = (_renewedAt, _failure);
            }

            if (_current is null)
            {
                return null;
            }

            var since = time.GetUtcNow() - renewedAt;
            var last = string.Create(CultureInfo.InvariantCulture, $"this instance's lease was last renewed {since.TotalSeconds:0.0} s ago (Dispatch:LeaseTime {leaseTime.TotalSeconds:0.#} s)");
            return failure is not null ? $"Storage: the store does not answer: {failure}; {last}"
                : since > leaseTime ? $"Storage: the store does not answer in time: {last}; other instances may take its work over"
                : null;
        }
    }

    /// <summary>Renews the lease every quarter of its time until cancelled; a lease found ended (left) is joined again, as a new instance.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(leaseTime / 4, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    if (!await leases.RenewAsync(Current, leaseTime, cancellationToken))
                    {
                        // Ended by the store (a process that opened it after this one): our claims are free, their commits refused.
                        var ended = Current;
                        _current = await leases.JoinAsync(ended.Name, leaseTime, cancellationToken);
                        LogRejoined(logger, ended.Id, _current.Id);
                    }

                    if (Renewed() is { } failure)
                    {
                        LogRenewedAgain(logger, failure);
                    }

                    await RecordRulesAsync(cancellationToken);
                    if (rollout is not null && _ticks++ % RolloutEvery == 0)
                    {
                        rollout.Observe(await leases.ListInstancesAsync(time.GetUtcNow() - leaseTime, cancellationToken));
                    }
                }
                catch (StorageException ex)
                {
                    metrics.StorageFailed("lease");
                    if (Failed(ex.Message))
                    {
                        LogRenewFailed(logger, ex, leaseTime);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Notes a renewal (or the join); returns the failure it ends, if the renewals were failing.</summary>
    private string? Renewed()
    {
        lock (_gate)
        {
            var failure = _failure;
            (_renewedAt, _failure) = (time.GetUtcNow(), null);
            return failure;
        }
    }

    /// <summary>Notes a failed renewal; true when it is the first of a run (logged; the next ones are not, until one succeeds).</summary>
    private bool Failed(string reason)
    {
        lock (_gate)
        {
            var first = _failure is null;
            _failure = reason;
            return first;
        }
    }

    /// <summary>Leaves: the lease ends now, and every claim with it.</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken)
    {
        if (_current is { } current)
        {
            await leases.LeaveAsync(current, cancellationToken);
        }
    }

    [LoggerMessage(EventId = 1014, Level = LogLevel.Information, Message = "Joined as instance {InstanceId} ({Name}); its lease lasts {LeaseTime} unless renewed")]
    private static partial void LogJoined(ILogger logger, long instanceId, string name, TimeSpan leaseTime);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Error, Message = "Instance {Old}'s lease was ended by the store; joined again as instance {New} (work in flight under the old one is refused and runs again)")]
    private static partial void LogRejoined(ILogger logger, long old, long @new);

    [LoggerMessage(EventId = 1016, Level = LogLevel.Error, Message = "Could not renew this instance's lease (it lasts {LeaseTime}); trying again (logged once until a renewal succeeds; /readyz says so meanwhile). Past it, other instances may take its work over and its late commits are refused")]
    private static partial void LogRenewFailed(ILogger logger, Exception exception, TimeSpan leaseTime);

    [LoggerMessage(EventId = 1018, Level = LogLevel.Information, Message = "This instance's lease is renewed again, after failures (the last: {Failure})")]
    private static partial void LogRenewedAgain(ILogger logger, string failure);
}
