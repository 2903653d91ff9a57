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
/// </summary>
internal sealed partial class Pruner(IRetentionStore store, RetentionOptions options, TimeProvider time, EngineMetrics metrics, ILogger<Pruner> logger)
{
    private RetentionCursor? _bodiesDone;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (options.Bodies <= TimeSpan.Zero && options.Records <= TimeSpan.Zero)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, time, cancellationToken); // keep everything: nothing to do until the stop
            return;
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await PruneOnceAsync(cancellationToken);
            }
            catch (StorageException ex)
            {
                metrics.StorageFailed("retention");
                LogFailed(logger, ex);
            }

            await Task.Delay(options.Interval, time, cancellationToken);
        }
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
