using System.Net;
using System.Text;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// Every refused webhook says why in the log, at warning, naming the reason and the sender; at most one line a minute
/// per reason, the next one counting those not logged, so that a wrong secret shows at once and a flood does not flood.
/// </summary>
public sealed class WebhookRefusalLogTests
{
    [Fact]
    public async Task AWrongSecret_ShowsInTheLog_OnceAMinutePerReason_AndEveryReasonHasItsOwnLine()
    {
        await using var server = await TestServerHost.StartAsync(configure: RemoteAddress.Use("198.51.100.23"));
        var (eventName, body, _) = SignedDeliveries.Get("convo.status.closed");

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await server.PostAsync(eventName, body, "d3Jvbmc=")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await server.PostAsync(eventName, body, SignedDeliveries.Sign(body), "text/plain")).StatusCode);
        var bad = Encoding.UTF8.GetBytes("{\"id\":");
        Assert.Equal(HttpStatusCode.BadRequest, (await server.PostAsync(eventName, bad, SignedDeliveries.Sign(bad))).StatusCode);

        var refusals = server.Logs.Where(l => l.Contains("Webhook delivery refused", StringComparison.Ordinal)).ToList();
        var signature = Assert.Single(refusals, l => l.Contains("(signature)", StringComparison.Ordinal));
        Assert.Contains("warn", signature, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("from 198.51.100.23", signature, StringComparison.Ordinal);
        Assert.Contains("does not match the body: check that the configured secret is FreeScout's Secret Key", signature, StringComparison.Ordinal);
        Assert.Single(refusals, l => l.Contains("(content_type)", StringComparison.Ordinal));
        Assert.Single(refusals, l => l.Contains("(malformed)", StringComparison.Ordinal));
        Assert.Equal(3, refusals.Count);
    }
}
