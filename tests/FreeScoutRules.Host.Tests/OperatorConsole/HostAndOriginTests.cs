using System.Net;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.OperatorConsole;

/// <summary>
/// What a request says of where it comes from is checked: the Host it names is refused unless allowed (AllowedHosts) and
/// never written into a redirect; a console form is taken only from the console's origin and with an anti-forgery
/// token of the same session.
/// </summary>
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

    [Fact]
    public async Task AnAntiForgeryPair_FromSessionA_IsRefusedInSessionB()
    {
        await using var server = await TestServerHost.StartAsync();
        var a = await ConsoleClient.SignInAsync(server.Client);
        var b = await ConsoleClient.SignInAsync(server.Client);
        var formOfA = await FormAsync(server.Client, a);

        using var withAsPairInB = await SignOutAsync(server.Client, b, formOfA);
        using var withAsPairInA = await SignOutAsync(server.Client, a, formOfA);

        Assert.Equal(HttpStatusCode.BadRequest, withAsPairInB.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await ConsoleClient.GetStatusAsync(server.Client, "/actions", b)); // B still signed in
        Assert.Equal(HttpStatusCode.Redirect, withAsPairInA.StatusCode); // the pair itself is good, in its own session
    }

    [Theory]
    [InlineData("https://evil.example", null)]
    [InlineData("http://localhost:8080", null)]
    [InlineData("null", null)]
    [InlineData(null, "https://evil.example/page")]
    public async Task AConsoleFormFromAnotherOrigin_IsRefused403_EvenWithAGoodAntiForgeryToken(string? origin, string? referer)
    {
        await using var server = await TestServerHost.StartAsync();
        var session = await ConsoleClient.SignInAsync(server.Client);

        using var refused = await SignOutAsync(server.Client, session, await FormAsync(server.Client, session), origin, referer);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("takes forms only from http://localhost", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await ConsoleClient.GetStatusAsync(server.Client, "/actions", session)); // nothing was done
    }

    [Theory]
    [InlineData("http://localhost", null)]
    [InlineData(null, "http://localhost/actions")]
    [InlineData(null, null)] // neither (curl): the anti-forgery token decides
    public async Task AConsoleFormFromItsOwnOrigin_OrWithoutOne_IsTaken(string? origin, string? referer)
    {
        await using var server = await TestServerHost.StartAsync();
        var session = await ConsoleClient.SignInAsync(server.Client);

        using var signedOut = await SignOutAsync(server.Client, session, await FormAsync(server.Client, session), origin, referer);

        Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
    }

    [Fact]
    public async Task WithConsolePublicOrigin_ThatOriginIsTheOnlyOneTaken()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Console:PublicOrigin"] = "https://rules.example.com" });
        var session = await ConsoleClient.SignInAsync(server.Client);

        using var fromTheServersOwnAddress = await SignOutAsync(server.Client, session, await FormAsync(server.Client, session), "http://localhost", null);
        using var fromThePublicOrigin = await SignOutAsync(server.Client, session, await FormAsync(server.Client, session), "https://rules.example.com", null);

        Assert.Equal(HttpStatusCode.Forbidden, fromTheServersOwnAddress.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, fromThePublicOrigin.StatusCode);
    }

    [Theory]
    [InlineData("rules.example.com")]
    [InlineData("https://rules.example.com/console")]
    public async Task Start_WithAPublicOriginThatIsNoOrigin_Refuses(string value)
    {
        var ex = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => TestServerHost.StartAsync(new() { ["Console:PublicOrigin"] = value }));

        Assert.Contains(ex.Failures, f => f.StartsWith("Console:PublicOrigin: ", StringComparison.Ordinal) && f.Contains("is not an origin", StringComparison.Ordinal));
    }

    /// <summary>A console page's form as the session sees it: the anti-forgery cookie it sets and the token in the form.</summary>
    private static async Task<(string Cookie, string Token)> FormAsync(HttpClient client, string session)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/actions");
        request.Headers.Add("Cookie", session);
        using var page = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        return (
            page.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("fsr-console-antiforgery=", StringComparison.Ordinal)).Split(';')[0],
            System.Text.RegularExpressions.Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value);
    }

    /// <summary>The sign-out form posted in <paramref name="session"/> with <paramref name="form"/>'s anti-forgery pair.</summary>
    private static async Task<HttpResponseMessage> SignOutAsync(HttpClient client, string session, (string Cookie, string Token) form, string? origin = null, string? referer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signout")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = form.Token }),
        };
        request.Headers.Add("Cookie", $"{session}; {form.Cookie}");
        if (origin is not null)
        {
            request.Headers.TryAddWithoutValidation("Origin", origin);
        }

        if (referer is not null)
        {
            request.Headers.TryAddWithoutValidation("Referer", referer);
        }

        return await client.SendAsync(request);
    }
}
