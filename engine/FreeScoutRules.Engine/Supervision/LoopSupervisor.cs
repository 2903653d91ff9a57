using System.Collections.Concurrent;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Supervision;

/// <summary>What a supervised loop's unexpected failure leads to.</summary>
internal enum LoopFailurePolicy
{
    /// <summary>Start the loop again after a backoff (1 s, doubling to 1 min). For loops that keep no state of their own.</summary>
    Restart,

    /// <summary>
    /// Stop the process with a non-zero exit code, for its supervisor (systemd, Kubernetes) to start it
    /// again: for loops whose in-memory state a failure may have left wrong. Recovery at start is exact.
    /// </summary>
    StopProcess,
}

/// <summary>
/// Runs the engine's long-running loops (writer, dispatcher, action runner, both reloaders, watchdog)
/// so that none dies unseen: an unexpected exception, or a loop that ends before it is told to stop, is
/// logged with the loop's name, counted (<c>freescout_rules_loops_failures_total{loop}</c>), shown by
/// <see cref="Failures"/> (<c>/readyz</c> answers 503 naming the loop), and handled by the loop's
/// <see cref="LoopFailurePolicy"/>. A restarted loop counts as healthy again once it has run for
/// <see cref="Settle"/>. Thread-safe.
/// </summary>
internal sealed partial class LoopSupervisor(EngineMetrics metrics, TimeProvider time, ILogger<LoopSupervisor> logger) : IDisposable
{
    private readonly ConcurrentDictionary<string, Failure> _failures = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _fatal = new();

    /// <summary>How long a restarted loop must run before it counts as healthy again. Default 10 s.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait before a restart. Default 1 min.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Cancelled when a <see cref="LoopFailurePolicy.StopProcess"/> loop failed: the host stops and exits non-zero.</summary>
    public CancellationToken Fatal => _fatal.Token;

    /// <summary>The fatal failure, once one happened.</summary>
    public string? FatalError { get; private set; }

    /// <summary>Loops that failed and have not run cleanly since, described for people.</summary>
    public IReadOnlyList<string> Failures
    {
        get
        {
            var now = time.GetUtcNow();
            return [.. _failures.Where(f => f.Value.Restarted is not { } restarted || now - restarted < Settle).Select(f => f.Value.Description).Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>Runs <paramref name="loop"/> under supervision until <paramref name="stopping"/> is cancelled.</summary>
    public Task Run(string name, Func<CancellationToken, Task> loop, LoopFailurePolicy policy, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(loop);
        metrics.LoopFailed(name, 0); // the series exists from the start, for alerts on its increase
        return Task.Run(() => SuperviseAsync(name, loop, policy, stopping), CancellationToken.None);
    }

    private async Task SuperviseAsync(string name, Func<CancellationToken, Task> loop, LoopFailurePolicy policy, CancellationToken stopping)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (true)
        {
            Exception? error;
            try
            {
                await loop(stopping);
                if (stopping.IsCancellationRequested)
                {
                    return;
                }

                error = new InvalidOperationException("the loop ended although nothing asked it to stop");
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                error = ex;
            }

            metrics.LoopFailed(name);
            var description = $"loop '{name}' failed: {error.GetType().Name}: {error.Message}";
            if (policy == LoopFailurePolicy.StopProcess)
            {
                LogFatal(logger, error, name);
                _failures[name] = new Failure($"{description}; the process stops", null);
                FatalError ??= description;
                await _fatal.CancelAsync();
                return;
            }

            LogRestarting(logger, error, name, backoff.TotalSeconds);
            _failures[name] = new Failure($"{description}; restarting", null);
            try
            {
                await Task.Delay(backoff, time, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _failures[name] = new Failure($"{description}; restarted", time.GetUtcNow());
            backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
        }
    }

    public void Dispose() => _fatal.Dispose();

    private sealed record Failure(string Description, DateTimeOffset? Restarted);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "Loop {Loop} failed unexpectedly; it restarts in {Seconds} s")]
    private static partial void LogRestarting(ILogger logger, Exception exception, string loop, double seconds);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Critical, Message = "Loop {Loop} failed unexpectedly; the process stops (exit code 3) for its supervisor to restart it, and recovers what was stored")]
    private static partial void LogFatal(ILogger logger, Exception exception, string loop);
}
