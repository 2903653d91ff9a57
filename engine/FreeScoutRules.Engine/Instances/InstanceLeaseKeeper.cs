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

    private InstanceLease? _current;
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

                    await RecordRulesAsync(cancellationToken);
                    if (rollout is not null && _ticks++ % RolloutEvery == 0)
                    {
                        rollout.Observe(await leases.ListInstancesAsync(time.GetUtcNow() - leaseTime, cancellationToken));
                    }
                }
                catch (StorageException ex)
                {
                    metrics.StorageFailed("lease");
                    LogRenewFailed(logger, ex, leaseTime);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
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

    [LoggerMessage(EventId = 1016, Level = LogLevel.Error, Message = "Could not renew this instance's lease (it lasts {LeaseTime}); trying again. Past it, other instances may take its work over and its late commits are refused")]
    private static partial void LogRenewFailed(ILogger logger, Exception exception, TimeSpan leaseTime);
}
