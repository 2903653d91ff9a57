namespace FreeScoutRules.Engine.Actions;

/// <summary>How the action runner executes recorded intents.</summary>
internal sealed class ActionsOptions
{
    public const string Section = "Actions";

    /// <summary>Attempts running at once. Default 16.</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>
    /// Attempts running at once for one destination (an http URL's origin, a plugin's destination, else an action),
    /// so that a destination that never answers holds at most this many of <see cref="Concurrency"/>. Default (unset):
    /// a quarter of <see cref="Concurrency"/>, at least 1 (4 of 16).
    /// </summary>
    public int? ConcurrencyPerDestination { get; set; }

    /// <summary>The cap per destination in force: <see cref="ConcurrencyPerDestination"/>, else its default, never above <see cref="Concurrency"/>.</summary>
    public int PerDestination => Math.Min(Concurrency, ConcurrencyPerDestination ?? Math.Max(1, Concurrency / 4));

    /// <summary>
    /// Longest one attempt may take before it is cancelled and counted as a retryable failure. Default 30 s. Independent
    /// of <c>Dispatch:LeaseTime</c>: the intent's claim lasts as long as this instance's lease, which is renewed on its own.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Wait before the second attempt; doubled for each further one up to <see cref="MaxDelay"/>, ±20% jitter. Default 10 s.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait between two attempts. Default 1 h.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Attempts before an intent is dead-lettered. Default 40: with the default delays (10 s, 20 s, …
    /// 43 min, then hourly) the attempts span more than 24 hours even with the shortest jitter.
    /// </summary>
    public int MaxAttempts { get; set; } = 40;

    /// <summary>How often the outbox is looked at for due intents. Default 200 ms.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The delay before attempt <paramref name="nextAttempt"/> (2 or more), before jitter.</summary>
    public TimeSpan DelayBefore(int nextAttempt)
    {
        var doublings = Math.Min(nextAttempt - 2, 30);
        var delay = FirstRetryDelay * Math.Pow(2, doublings);
        return delay < MaxDelay ? delay : MaxDelay;
    }
}
