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

    /// <summary>
    /// The usual reading of an HTTP answer: 2xx is done; 408, 429 and 5xx are worth another attempt
    /// (after the answer's Retry-After, if any); anything else will never work.
    /// </summary>
    /// <param name="response">The answer.</param>
    /// <param name="what">What was asked, for the reason, e.g. "POST https://hooks.example.com/x" (leave secrets out).</param>
    public static ActionResult FromResponse(System.Net.Http.HttpResponseMessage response, string what)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.IsSuccessStatusCode)
        {
            return Done();
        }

        var status = (int)response.StatusCode;
        return status >= 500 || status is 408 or 429
            ? Retry($"{what} answered {status}", response.Headers.RetryAfter?.Delta
                ?? (response.Headers.RetryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : null))
            : Fail($"{what} answered {status}");
    }
}
