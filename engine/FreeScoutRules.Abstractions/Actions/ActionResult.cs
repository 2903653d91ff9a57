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
    /// A request that got no answer, worth another attempt, with its cause in words: the name does not resolve (DNS), the
    /// connection was refused or failed, the TLS handshake failed, the connection closed before an answer… and the
    /// innermost error (<c>Connection refused (hooks.example.com:443)</c>), not just "An error occurred while sending the request.".
    /// </summary>
    /// <param name="what">What was asked, e.g. "POST https://hooks.example.com/x" (leave secrets out).</param>
    /// <param name="exception">What HttpClient threw.</param>
    public static ActionResult Unreachable(string what, System.Net.Http.HttpRequestException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var cause = exception.HttpRequestError switch
        {
            System.Net.Http.HttpRequestError.NameResolutionError => "the host name does not resolve (DNS)",
            System.Net.Http.HttpRequestError.ConnectionError => "no connection",
            System.Net.Http.HttpRequestError.SecureConnectionError => "the TLS handshake failed",
            System.Net.Http.HttpRequestError.ProxyTunnelError => "the proxy tunnel failed",
            System.Net.Http.HttpRequestError.ResponseEnded => "the connection closed before an answer",
            System.Net.Http.HttpRequestError.InvalidResponse or System.Net.Http.HttpRequestError.HttpProtocolError => "the answer is not valid HTTP",
            System.Net.Http.HttpRequestError.ConfigurationLimitExceeded => "the answer exceeds a limit",
            _ => "no answer",
        };
        var inner = exception.InnerException is { } innermost ? Innermost(innermost) : exception.Message;
        return Retry($"{what} failed: {cause}: {inner}");
    }

    /// <summary>An exception's message and its inner exceptions', each once: "…: Connection refused (host:443)". Also the engine's, for FreeScout's API.</summary>
    internal static string Innermost(Exception exception)
    {
        var messages = new List<string>();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (!messages.Contains(e.Message, StringComparer.Ordinal))
            {
                messages.Add(e.Message);
            }
        }

        return string.Join(": ", messages);
    }

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
