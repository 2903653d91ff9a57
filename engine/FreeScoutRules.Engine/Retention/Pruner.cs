using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Retention;

/// <summary>
/// Retention in the background: every <see cref="RetentionOptions.Interval"/>, deletes what is older than
/// <see cref="RetentionOptions.Records"/> (processed deliveries with their status changes, finished
/// intents and attempts) and the raw bodies older than <see cref="RetentionOptions.Bodies"/>, a small
/// batch per write with a pause between, so acknowledgements never wait long behind it. Freed pages
/// are reused by new data, so the file stops growing under steady load. A supervised loop.
/// <para>
/// Singleton work (docs/design.md, "Claims and fences"): it prunes only in the instance that holds the named lease
/// <see cref="NamedLeases.Retention"/>; the others stand by and take over when the holder's lease ends. A pass stops
/// between batches when the lease is lost. Its deletes need no fence: what is old enough to go goes once, whoever deletes it.
/// </para>
/// </summary>
internal sealed partial class Pruner(IRetentionStore store, NamedLeases leases, RetentionOptions options, TimeProvider time, EngineMetrics metrics, ILogger<Pruner> logger)
{
    private RetentionCursor? _bodiesDone;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (options.Bodies <= TimeSpan.Zero && options.Records <= TimeSpan.Zero)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, time, cancellationToken); // keep everything: nothing to do until the stop
            return;
        }

        await leases.RunWhileHoldingAsync(NamedLeases.Retention, async (_, underLease) =>
        {
            _bodiesDone = null; // taken (again): start at the oldest body still stored, as after a start
            while (true)
            {
                try
                {
                    await PruneOnceAsync(underLease);
                }
                catch (StorageException ex)
                {
                    metrics.StorageFailed("retention");
                    LogFailed(logger, ex);
                }

                await Task.Delay(options.Interval, time, underLease);
            }
        }, null, cancellationToken);
    }

    /// <summary>One pass: records first (their bodies go with them), then bodies.</summary>
    internal async Task<(int Records, int Bodies)> PruneOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var records = 0;
        if (options.Records > TimeSpan.Zero)
        {
            int pruned;
            do
            {
                pruned = await store.PruneRecordsAsync(now - options.Records, options.BatchSize, cancellationToken);
                records += pruned;
                await PauseAsync(pruned, cancellationToken);
            }
            while (pruned > 0);
        }

        var bodies = 0;
        if (options.Bodies > TimeSpan.Zero)
        {
            while (true)
            {
                var (pruned, last) = await store.PruneBodiesAsync(_bodiesDone, now - options.Bodies, options.BatchSize, cancellationToken);
                if (last is null)
                {
                    break;
                }

                _bodiesDone = last;
                bodies += pruned;
                await PauseAsync(1, cancellationToken);
            }
        }

        if (records + bodies > 0)
        {
            LogPruned(logger, records, bodies);
        }

        return (records, bodies);
    }

    private Task PauseAsync(int pruned, CancellationToken cancellationToken) =>
        pruned > 0 && options.BatchPause > TimeSpan.Zero ? Task.Delay(options.BatchPause, time, cancellationToken) : Task.CompletedTask;

    [LoggerMessage(EventId = 6101, Level = LogLevel.Information, Message = "Retention: pruned {Records} old delivery records and the bodies of {Bodies} deliveries")]
    private static partial void LogPruned(ILogger logger, int records, int bodies);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Warning, Message = "Retention could not prune; it tries again at its next interval")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
