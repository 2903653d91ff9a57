using System.Net;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.OperatorConsole;

/// <summary>The Host a request names is never trusted: refused unless allowed (AllowedHosts), never written into a redirect.</summary>
public sealed class HostAndOriginTests
{
    [Theory]
    [InlineData("/")]
    [InlineData("/deliveries")]
    public async Task AForgedHost_IsNeverReflectedIntoTheSignInRedirect(string path)
    {
        await using var server = await TestServerHost.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = "evil.example";

        using var response = await server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.False(location.IsAbsoluteUri, $"Location: {location}");
        Assert.StartsWith("/signin?ReturnUrl=", location.OriginalString, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.example", response.Headers.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithAllowedHosts_ARequestForAnotherHost_IsRefused()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["AllowedHosts"] = "rules.example.com;localhost" });
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/signin");
        forged.Headers.Host = "evil.example";
        using var allowed = new HttpRequestMessage(HttpMethod.Get, "/signin");
        allowed.Headers.Host = "rules.example.com";

        using var refused = await server.Client.SendAsync(forged);
        using var served = await server.Client.SendAsync(allowed);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.DoesNotContain("evil.example", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }
}
