using FreeScoutRules.Engine.Telemetry;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// Every delivery the webhook endpoint refuses, whatever the reason (a bad signature, a body too large, a source not
/// allowed, a limit), is counted in <c>freescout_rules_deliveries_refused_total{reason}</c> and logged at warning with the
/// reason, what was wrong and the sender's address (the real client behind a known proxy): a wrong secret shows in the
/// log at once. At most one line a minute for each reason, with the number not logged since, so that a flood of bad
/// requests cannot flood the log. Thread-safe.
/// </summary>
internal sealed partial class WebhookRefusals(EngineMetrics metrics, TimeProvider time, ILogger<WebhookRefusals> logger)
{
    private static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(1);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, LogThrottle> _throttles = new(StringComparer.Ordinal);

    /// <summary>Counts a refusal under <paramref name="reason"/> and logs it (or counts it for the reason's next line).</summary>
    public void Refused(HttpContext http, string reason, string detail)
    {
        metrics.Refused(reason);
        Log(http, reason, detail);
    }

    /// <summary>Logs a refusal already counted (the ingestor counts its own).</summary>
    public void Log(HttpContext http, string reason, string detail)
    {
        ArgumentNullException.ThrowIfNull(http);
        var throttle = _throttles.GetOrAdd(reason, _ => new LogThrottle());
        int suppressed;
        lock (throttle)
        {
            var now = time.GetTimestamp();
            if (now < throttle.NextAt)
            {
                throttle.Unlogged++;
                return;
            }

            suppressed = throttle.Unlogged;
            throttle.Unlogged = 0;
            throttle.NextAt = now + (long)(LogEvery.TotalSeconds * time.TimestampFrequency);
        }

        LogRefused(logger, reason, http.Connection.RemoteIpAddress?.ToString() ?? "an unknown address", detail, suppressed);
    }

    /// <summary>When a reason's next line may be logged, and how many refusals for it were not.</summary>
    private sealed class LogThrottle
    {
        public long NextAt { get; set; }

        public int Unlogged { get; set; }
    }

    [LoggerMessage(EventId = 8101, Level = LogLevel.Warning,
        Message = "Webhook delivery refused ({Reason}) from {Remote}: {Detail} ({Suppressed} more for this reason since its last line, at most one a minute; freescout_rules_deliveries_refused_total counts them by reason)")]
    private static partial void LogRefused(ILogger logger, string reason, string remote, string detail, int suppressed);
}
