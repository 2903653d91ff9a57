using System.Globalization;
using System.Threading.RateLimiting;
using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// What the webhook endpoint holds at once, so that slow or stalled uploads cannot pin the server's memory:
/// at most <c>Webhook:MaxConcurrentRequests</c> requests (ASP.NET Core's rate limiting, a concurrency limiter without
/// a queue: <see cref="WebhookConcurrencyPolicy"/>), and bodies read in growing chunks whose bytes beyond each request's
/// first <see cref="WebhookOptions.FirstChunkBytes"/> are reserved from a shared budget (a
/// <see cref="System.Threading.RateLimiting.ConcurrencyLimiter"/> whose permits are bytes). Over either limit the
/// answer is 503 with <c>Retry-After</c> and the connection is closed; a body whose bytes stop arriving for
/// <c>Webhook:BodyIdleTimeout</c> is cut with 408. Every refusal is counted and logged (<see cref="WebhookRefusals"/>).
/// </summary>
internal sealed class WebhookLimits : IDisposable
{
    /// <summary>The rate limiting policy of the webhook endpoint.</summary>
    public const string Policy = "webhook";

    private readonly ConcurrencyLimiter _shared;
    private readonly WebhookRefusals _refusals;

    public WebhookLimits(IOptions<WebhookOptions> options, WebhookRefusals refusals)
    {
        var webhook = options.Value;
        _shared = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = (int)webhook.SharedBufferBytes, // validated: at most 1 GiB, and room for one body of MaxBodyBytes
            QueueLimit = 0,
        });
        IdleTimeout = webhook.BodyIdleTimeout;
        RetryAfter = Math.Max(1, (int)Math.Ceiling(webhook.BodyIdleTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        _refusals = refusals;
    }

    /// <summary><c>Webhook:BodyIdleTimeout</c>.</summary>
    public TimeSpan IdleTimeout { get; }

    /// <summary>
    /// The <c>Retry-After</c> of a 503, in seconds: the idle timeout, within which a stalled upload that holds a place
    /// is cut. FreeScout retries on its own schedule; other senders may honour it.
    /// </summary>
    public string RetryAfter { get; }

    /// <summary>
    /// Reserves <paramref name="bytes"/> of the shared budget for a body's buffer beyond its first chunk; the lease gives
    /// them back when disposed. Not acquired when the budget cannot hold them now.
    /// </summary>
    public RateLimitLease Reserve(int bytes) => _shared.AttemptAcquire(bytes);

    /// <summary>Bytes of the shared budget free now (for tests and diagnostics).</summary>
    public long SharedBytesAvailable => _shared.GetStatistics()?.CurrentAvailablePermits ?? 0;

    /// <summary>
    /// Answers a request refused for a limit: <paramref name="status"/> as problem details, the connection closed (the rest
    /// of its body is not waited for), <c>Retry-After</c> on a 503; counted and logged.
    /// </summary>
    public Task RefuseAsync(HttpContext http, int status, string reason, string title, string detail)
    {
        _refusals.Refused(http, reason, detail);
        var response = http.Response;
        response.StatusCode = status;
        response.Headers.Connection = "close";
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            response.Headers.RetryAfter = RetryAfter;
        }

        return WebhookEndpoint.Problem(status, title, detail).ExecuteAsync(http);
    }

    public void Dispose() => _shared.Dispose();
}

/// <summary>
/// <c>Webhook:MaxConcurrentRequests</c> as a rate limiting policy: one concurrency limiter for the endpoint, no queue
/// (a waiting request would hold its connection and its buffered bytes all the same); refused requests get 503 with
/// <c>Retry-After</c>, which FreeScout retries.
/// </summary>
internal sealed class WebhookConcurrencyPolicy(IOptions<WebhookOptions> options, WebhookLimits limits) : IRateLimiterPolicy<string>
{
    private readonly int _permits = options.Value.MaxConcurrentRequests;

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => (context, _) => new(limits.RefuseAsync(
        context.HttpContext, StatusCodes.Status503ServiceUnavailable, "busy", "Too many requests at once",
        $"{_permits} webhook requests are being received already (Webhook:MaxConcurrentRequests); retry after {limits.RetryAfter} s."));

    public RateLimitPartition<string> GetPartition(HttpContext httpContext) =>
        RateLimitPartition.GetConcurrencyLimiter(WebhookLimits.Policy, _ => new ConcurrencyLimiterOptions { PermitLimit = _permits, QueueLimit = 0 });
}

/// <summary>Registration of the webhook endpoint's limits.</summary>
internal static class WebhookLimitsComposition
{
    public static IServiceCollection AddWebhookLimits(this IServiceCollection services)
    {
        services.AddSingleton<WebhookRefusals>();
        services.AddSingleton<WebhookLimits>();
        services.AddRateLimiter(rateLimiting => rateLimiting.AddPolicy<string, WebhookConcurrencyPolicy>(WebhookLimits.Policy));
        return services;
    }
}
