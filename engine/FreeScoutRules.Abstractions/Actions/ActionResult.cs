namespace FreeScoutRules.Actions;

/// <summary>How one attempt of an action ended.</summary>
public enum ActionOutcome
{
    /// <summary>The action did its work; it will not run again.</summary>
    Done,

    /// <summary>It may work later (timeout, 5xx, 429, network): tried again on the backoff schedule.</summary>
    RetryableFailure,

    /// <summary>It will never work (invalid arguments, 4xx other than 408/429): dead-lettered at once.</summary>
    PermanentFailure,
}

/// <summary>The result of one attempt: an outcome, a reason for people, and an optional earliest retry (Retry-After).</summary>
public readonly record struct ActionResult(ActionOutcome Outcome, string? Reason = null, TimeSpan? RetryAfter = null)
{
    public static ActionResult Done() => new(ActionOutcome.Done);

    public static ActionResult Retry(string reason, TimeSpan? after = null) => new(ActionOutcome.RetryableFailure, reason, after);

    public static ActionResult Fail(string reason) => new(ActionOutcome.PermanentFailure, reason);
}
