namespace FreeScoutRules.Engine.Dispatch;

/// <summary>How stored deliveries are run through the rules.</summary>
internal sealed class DispatchOptions
{
    public const string Section = "Dispatch";

    /// <summary>Conversations processed in parallel. Default: the processor count.</summary>
    public int Workers { get; set; } = Environment.ProcessorCount;

    /// <summary>Attempts of a delivery whose rules throw before it is parked. Default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Wait before the second attempt; doubled for each further one. Default 1 s.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long one delivery may stay in the rules before the watchdog reports it (log and
    /// <c>/readyz</c>, naming the rule and the delivery). A rule cannot be stopped from outside; its
    /// conversation stays blocked, the others go on. Default 5 s.
    /// </summary>
    public TimeSpan RuleTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
