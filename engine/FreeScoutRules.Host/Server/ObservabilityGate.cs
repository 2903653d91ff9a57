using FreeScoutRules.Host.Security;
using FreeScoutRules.Host.Settings;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// Who may read <c>/metrics</c> and the reasons of <c>/readyz</c>: a caller with the metrics token
/// (<c>Observability:MetricsToken</c>) or the admin token, or anyone when <c>Observability:PublicMetrics</c> is set (metrics
/// only). A wrong token is throttled like any other (<see cref="AuthenticationThrottle"/>).
/// </summary>
internal sealed class ObservabilityGate(IOptions<ObservabilityOptions> observability, IOptions<AdminOptions> admin, AuthenticationThrottle throttle)
{
    /// <summary>What a request's bearer token makes of its caller.</summary>
    public Standing Check(HttpContext http, string surface)
    {
        ArgumentNullException.ThrowIfNull(http);
        var given = AdminToken.Bearer(http.Request);
        if (given.Length == 0)
        {
            return new Standing(false, null);
        }

        if (throttle.Refusal(http) is { } wait)
        {
            return new Standing(false, wait);
        }

        if (AdminToken.Matches(given, observability.Value.MetricsToken) || AdminToken.Matches(given, admin.Value.Token))
        {
            return new Standing(true, null);
        }

        throttle.Failed(http, surface);
        return new Standing(false, null);
    }

    /// <summary>The middleware of the <c>/metrics</c> branch, before the Prometheus exporter: 401 (or 429) unless allowed.</summary>
    public static async Task GuardMetricsAsync(HttpContext http, Func<Task> next)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(next);
        var services = http.RequestServices;
        if (services.GetRequiredService<IOptions<ObservabilityOptions>>().Value.PublicMetrics)
        {
            await next();
            return;
        }

        var standing = services.GetRequiredService<ObservabilityGate>().Check(http, AuthenticationThrottle.Metrics);
        if (standing.IsReader)
        {
            await next();
            return;
        }

        var answer = standing.RetryAfter is { } wait
            ? AdminApi.TooManyWrongTokens(http, wait)
            : WebhookEndpoint.Problem(StatusCodes.Status401Unauthorized, "Unauthorized",
                "The metrics need a token: Authorization: Bearer <Observability:MetricsToken> (Prometheus: authorization: credentials), or Observability:PublicMetrics=true.");
        if (standing.RetryAfter is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
        }

        await answer.ExecuteAsync(http);
    }

    /// <summary>A caller's standing: a reader (the metrics or admin token), or not, and if throttled for how long.</summary>
    internal readonly record struct Standing(bool IsReader, TimeSpan? RetryAfter);
}
