using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// Wake-ups from other instances (docs/design.md, "Claims and fences"): <c>LISTEN fsr_work</c> on one dedicated connection,
/// each notification of another store's committed work passed to dispatch as a <see cref="WorkHint"/>. An optimisation
/// only: a notification missed (the connection lost and listening again, the hints' buffer full) delays that work by at
/// most the sweep interval. The connection is checked when quiet, and opened again (with growing pauses) when it breaks.
/// </summary>
/// <param name="database">The database; the listener's connection is its own (<see cref="PostgresDatabase.OpenListenerAsync"/>), never a pooled one.</param>
/// <param name="hints">Where wake-ups go.</param>
/// <param name="origin">The local store's mark: its own notifications are left out (it announced them in-process, with more).</param>
/// <param name="logger">The store's log.</param>
internal sealed partial class WorkListener(PostgresDatabase database, WorkHints hints, string origin, ILogger logger)
{
    /// <summary>How long a quiet connection waits before it is checked (a partition shows as silence).</summary>
    private static readonly TimeSpan QuietCheck = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(5);

    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _received;

    /// <summary>Completes once the listener listened for the first time.</summary>
    public Task Listening => _listening.Task;

    /// <summary>Notifications of other instances' work passed on.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Listens until <paramref name="cancellationToken"/> is cancelled, opening the connection again whenever it breaks.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.OpenListenerAsync(cancellationToken);
                connection.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresStorage.WorkChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(cancellationToken);
                }

                if (failures > 0)
                {
                    LogListeningAgain(logger, database.Where, failures);
                }

                failures = 0;
                _listening.TrySetResult();
                while (true)
                {
                    if (!await connection.WaitAsync(QuietCheck, cancellationToken))
                    {
                        await using var check = new NpgsqlCommand("SELECT 1", connection) { CommandTimeout = 10 };
                        await check.ExecuteScalarAsync(cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Whatever broke the connection (the server gone, a session ended, the network): a wake-up is an
                // optimisation, so the listener never stops for good; it logs the first failure and listens again.
                if (++failures == 1)
                {
                    LogListenerLost(logger, ex, database.Where);
                }

                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(LongestPause.TotalMilliseconds, 100 * Math.Pow(2, failures - 1))), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs notification)
    {
        // "<origin> <conversation> <delivery>": a store's own are left out, as is what does not read as one.
        var parts = notification.Payload.Split(' ');
        if (parts.Length == 3 && !string.Equals(parts[0], origin, StringComparison.Ordinal)
            && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var conversationId)
            && long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var deliveryId))
        {
            Interlocked.Increment(ref _received);
            hints.Stored(new WorkHint(conversationId, deliveryId));
        }
    }

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "{Where}: the connection listening for other instances' work was lost; listening again (their work is found by the sweep meanwhile)")]
    private static partial void LogListenerLost(ILogger logger, Exception exception, string where);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Information, Message = "{Where}: listening for other instances' work again, after {Failures} failures")]
    private static partial void LogListeningAgain(ILogger logger, string where, int failures);
}
