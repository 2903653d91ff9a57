using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// FreeScout signs only the body: a signed body re-posted under an event of the other kind is refused, and
/// <c>Webhook:AllowedSources</c> keeps deliveries to FreeScout's own addresses (what else a captured delivery allows
/// is in docs/deploy.md, "Security").
/// </summary>
public sealed class WebhookSourcesTests
{
    private static async Task<HttpResponseMessage> PostFromAsync(TestServerHost server, string? address)
    {
        var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");
        using var request = SignedDeliveries.Request(eventName, body, signature);
        if (address is not null)
        {
            request.Headers.Add(RemoteAddress.Header, address);
        }

        return await server.Client.SendAsync(request);
    }

    [Theory]
    [InlineData("203.0.113.7", HttpStatusCode.Accepted)]
    [InlineData("::ffff:203.0.113.8", HttpStatusCode.Accepted)]
    [InlineData("2001:db8:0:1::5", HttpStatusCode.Accepted)]
    [InlineData("192.0.2.10", HttpStatusCode.Accepted)]
    [InlineData("198.51.100.9", HttpStatusCode.Forbidden)]
    [InlineData("2001:db9::5", HttpStatusCode.Forbidden)]
    [InlineData(null, HttpStatusCode.Forbidden)] // no address at all: refused, not trusted
    public async Task AllowedSources_AcceptOnlyTheListedNetworks_AndStoreNothingFromElsewhere(string? address, HttpStatusCode expected)
    {
        await using var server = await TestServerHost.StartAsync(
            new() { ["Webhook:AllowedSources:0"] = "203.0.113.0/24, 2001:db8::/48", ["Webhook:AllowedSources:1"] = "192.0.2.10" },
            configure: RemoteAddress.Use());

        using var response = await PostFromAsync(server, address);

        Assert.Equal(expected, response.StatusCode);
        var page = await server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries");
        Assert.Equal(expected == HttpStatusCode.Accepted ? 1 : 0, page.GetProperty("items").GetArrayLength());
        if (expected == HttpStatusCode.Forbidden)
        {
            Assert.Contains("Webhook:AllowedSources", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WithoutAList_AnySourceIsAccepted()
    {
        await using var server = await TestServerHost.StartAsync(configure: RemoteAddress.Use());

        using var response = await PostFromAsync(server, "198.51.100.9");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task AnEntryThatIsNoNetwork_StopsTheStart_NamingIt()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => TestServerHost.StartAsync(new() { ["Webhook:AllowedSources:0"] = "10.0.0.0/8, freescout.example.com" }));

        Assert.Contains("'freescout.example.com' is not an IP address or a CIDR range", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("convo.status.closed", "customer.created")]
    [InlineData("customer.created", "convo.note.created")]
    public async Task ASignedBody_RepostedUnderAnEventOfTheOtherKind_IsRefused_AndNothingIsStored(string fixture, string otherEvent)
    {
        await using var server = await TestServerHost.StartAsync();
        var (_, body, signature) = SignedDeliveries.Get(fixture);

        using var response = await server.PostAsync(otherEvent, body, signature);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains(otherEvent + ": the body is", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var page = await server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries");
        Assert.Equal(0, page.GetProperty("items").GetArrayLength());
    }
}
