namespace FreeScoutRules.Engine.Reconciliation;

/// <summary>
/// Settings of reconciliation with FreeScout's REST API (<c>Reconciliation:*</c>). On by default, every
/// <see cref="DefaultInterval"/>, when the FreeScout connection (<c>FreeScout:Url</c> and <c>FreeScout:ApiKey</c>)
/// is configured; <c>Reconciliation:Interval=00:00:00</c> switches it off.
/// </summary>
internal sealed class ReconciliationOptions
{
    public const string Section = "Reconciliation";

    /// <summary>The interval when none is set and FreeScout is configured.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMinutes(5);

    /// <summary>Time between passes; <c>00:00:00</c> is off. Unset: <see cref="DefaultInterval"/> when FreeScout is configured, else off.</summary>
    public TimeSpan? Interval { get; set; }

    /// <summary>How far before the watermark a pass starts again: FreeScout's timestamps have one-second steps and its clock may differ. Default 1 min.</summary>
    public TimeSpan Overlap { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A conversation updated less than this long ago is left for the next pass: its webhooks are probably still on
    /// their way (FreeScout sends them from its queue worker, agent replies after a 15 s undo window), and a change
    /// they will report should not be taken from them. Default 2 min.
    /// </summary>
    public TimeSpan SettleTime { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Where the very first pass starts (no watermark yet): this long before now. Default 1 day; <c>reconcile --since</c> goes further back.</summary>
    public TimeSpan InitialLookback { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Conversations per request. Default 100.</summary>
    public int PageSize { get; set; } = 100;

    /// <summary>At most this many requests a second to FreeScout (a PHP application), retries included. Default 2.</summary>
    public double RequestsPerSecond { get; set; } = 2;

    /// <summary>How long one request may take before it is abandoned (and retried). Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a request that failed for a passing reason (a 429, a 5xx, a timeout) is tried again, with growing waits. Default 4.</summary>
    public int Retries { get; set; } = 4;

    /// <summary>The interval in force: <see cref="Interval"/>, or the default when FreeScout is configured (<paramref name="connected"/>).</summary>
    public TimeSpan EffectiveInterval(bool connected) => Interval ?? (connected ? DefaultInterval : TimeSpan.Zero);
}
