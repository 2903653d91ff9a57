using FreeScoutRules.Host.Security;
using System.Net;
using System.Net.Http.Headers;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// What the server tells about itself, and to whom: /metrics needs the metrics (or admin) token unless
/// Observability:PublicMetrics; the probes tell anyone their status word and only a token holder why.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class ObservabilityAccessTests
{
    private const string MetricsToken = "metrics-read-only-0123456789-abcdefXYZ";

    [Fact]
    public async Task Metrics_AnonymousIsRefused_ByDefault_AndServedWithTheMetricsOrAdminToken()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Observability:MetricsToken"] = MetricsToken });

        using var anonymous = await server.Client.GetAsync(new Uri("/metrics", UriKind.Relative));
        using var wrong = await GetAsync(server, "/metrics", "not-the-metrics-token-0123456789abcdef");
        using var withMetricsToken = await GetAsync(server, "/metrics", MetricsToken);
        using var withAdminToken = await GetAsync(server, "/metrics", TestServerHost.AdminToken);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.ToString());
        Assert.DoesNotContain("freescout_rules", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("Observability:MetricsToken", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, withMetricsToken.StatusCode);
        Assert.Contains("freescout_rules_dispatch_queue_depth", await withMetricsToken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, withAdminToken.StatusCode);
    }

    [Fact]
    public async Task MetricsToken_OpensNothingElse()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Observability:MetricsToken"] = MetricsToken });

        using var api = await GetAsync(server, "/api/status", MetricsToken);

        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
    }

    [Fact]
    public async Task Metrics_WithPublicMetrics_AreServedToAnyone()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Observability:PublicMetrics"] = "true" });

        using var anonymous = await server.Client.GetAsync(new Uri("/metrics", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        Assert.Contains("freescout_rules_dispatch_queue_depth", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_WrongTokens_AreThrottledLikeAdminTokens()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Admin:Throttle:Burst"] = "2" });

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var answer = await GetAsync(server, "/metrics", $"wrong-{i}-0123456789abcdefghijklmnopq");
            statuses.Add(answer.StatusCode);
        }

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
    }

    [Theory]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Observability:MetricsToken: the metrics token (FREESCOUTRULES_METRICS_TOKEN) has only 1 different character")]
    [InlineData(TestServerHost.AdminToken, "Observability:MetricsToken: the metrics token is the admin token")]
    public async Task Start_WithAWeakMetricsToken_OrTheAdminToken_Refuses(string token, string expected)
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestServerHost.StartAsync(new() { ["Observability:MetricsToken"] = token }));

        Assert.Contains(ex.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Readyz_TellsAnonymousCallersOnlyTheStatusWord_AndTheReasonsOnlyWithAToken()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Observability:MetricsToken"] = MetricsToken });
        Assert.Equal("Healthy", await server.Client.GetStringAsync(new Uri("/readyz", UriKind.Relative)));
        var supervisor = server.Services.GetRequiredService<FreeScoutRules.Engine.Supervision.LoopSupervisor>();
        using var stop = new CancellationTokenSource();
        var loop = supervisor.Run("secret-loop-name", _ => throw new IOException("the disk went away"), FreeScoutRules.Engine.Supervision.LoopFailurePolicy.Restart, stop.Token);
        await Eventually.UntilAsync("/readyz to turn unhealthy", async () =>
        {
            using var ready = await server.Client.GetAsync(new Uri("/readyz", UriKind.Relative));
            return (ready.StatusCode == HttpStatusCode.ServiceUnavailable, $"it answered {(int)ready.StatusCode}");
        });

        using var anonymous = await server.Client.GetAsync(new Uri("/readyz", UriKind.Relative));
        using var wrong = await GetAsync(server, "/readyz", "not-the-metrics-token-0123456789abcdef");
        using var withMetricsToken = await GetAsync(server, "/readyz", MetricsToken);
        using var withAdminToken = await GetAsync(server, "/readyz", TestServerHost.AdminToken);
        using var healthz = await server.Client.GetAsync(new Uri("/healthz", UriKind.Relative));
        await stop.CancelAsync();
        await loop;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, anonymous.StatusCode);
        Assert.Equal("Unhealthy", await anonymous.Content.ReadAsStringAsync());
        Assert.Equal("Unhealthy", await wrong.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, withMetricsToken.StatusCode);
        Assert.Contains("loop 'secret-loop-name' failed: IOException: the disk went away", await withMetricsToken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.StartsWith("Unhealthy: ", await withAdminToken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("Healthy", await healthz.Content.ReadAsStringAsync());
    }

    private static async Task<HttpResponseMessage> GetAsync(TestServerHost server, string path, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await server.Client.SendAsync(request);
    }
}
