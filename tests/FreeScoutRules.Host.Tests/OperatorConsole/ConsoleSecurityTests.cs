using System.Net;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.OperatorConsole;

/// <summary>The console's doors, over plain HTTP: nothing without the cookie, no form without its anti-forgery token, strict headers.</summary>
public sealed class ConsoleSecurityTests
{
    [Theory]
    [InlineData("/")]
    [InlineData("/conversations")]
    [InlineData("/conversations/1187")]
    public async Task EveryPage_WithoutSigningIn_RedirectsToSignIn_AndShowsNoData(string path)
    {
        await using var server = await TestServerHost.StartAsync();
        await server.PostFixtureAsync("convo.status.closed");
        var client = server.Client; // no cookies kept, no redirects followed

        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/signin?ReturnUrl=", response.Headers.Location!.OriginalString, StringComparison.Ordinal);
        Assert.DoesNotContain("1187", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AForgedSignInOrSignOut_WithoutTheAntiForgeryToken_IsRefused()
    {
        await using var server = await TestServerHost.StartAsync();
        var client = server.Client; // no cookies kept, no redirects followed

        using var signIn = await client.PostAsync(new Uri("/signin", UriKind.Relative),
            new FormUrlEncodedContent(new Dictionary<string, string> { ["Token"] = TestServerHost.AdminToken }));
        // Signed in, but posting without the token: refused before the handler signs anyone out.
        var session = await ConsoleClient.SignInAsync(client);
        using var forgedSignOut = new HttpRequestMessage(HttpMethod.Post, "/signout") { Content = new FormUrlEncodedContent([]) };
        forgedSignOut.Headers.Add("Cookie", session);
        using var signOut = await client.SendAsync(forgedSignOut);

        Assert.Equal(HttpStatusCode.BadRequest, signIn.StatusCode);
        Assert.DoesNotContain(signIn.Headers, h => h.Key == "Set-Cookie" && h.Value.Any(v => v.StartsWith("fsr-console=", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.BadRequest, signOut.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await ConsoleClient.GetStatusAsync(client, "/actions", session)); // still signed in
    }

    [Theory]
    [InlineData("another-admin-token-0123456789-ABCdef")]
    [InlineData("")]
    public async Task ChangingOrRemovingTheAdminToken_EndsEverySession(string newToken)
    {
        var root = Path.Combine(Path.GetTempPath(), $"fsr-server-{Guid.NewGuid():N}");
        string cookie;
        await using (var before = await TestServerHost.StartAsync(root: root))
        {
            before.DeleteRootOnDispose = false;
            cookie = await ConsoleClient.SignInAsync(before.Client);
            Assert.Equal(HttpStatusCode.OK, await ConsoleClient.GetStatusAsync(before.Client, "/actions", cookie));
        }

        await using var after = await TestServerHost.StartAsync(new() { ["Admin:Token"] = newToken }, root: root);

        Assert.Equal(HttpStatusCode.Redirect, await ConsoleClient.GetStatusAsync(after.Client, "/actions", cookie));
    }

    [Fact]
    public async Task ASession_LastsEightHoursFromSigningIn_AndSurvivesARestart()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fsr-server-{Guid.NewGuid():N}");
        string cookie;
        await using (var before = await TestServerHost.StartAsync(root: root))
        {
            before.DeleteRootOnDispose = false;
            cookie = await ConsoleClient.SignInAsync(before.Client);
        }

        await using var after = await TestServerHost.StartAsync(root: root);

        Assert.Equal(HttpStatusCode.OK, await ConsoleClient.GetStatusAsync(after.Client, "/actions", cookie)); // the keys are in the data directory
    }

    [Fact]
    public async Task Pages_HaveAStrictContentSecurityPolicy_AndTheCookieIsHttpOnlyAndSameSiteStrict()
    {
        await using var server = await TestServerHost.StartAsync();
        var client = server.Client; // no cookies kept, no redirects followed

        using var page = await client.GetAsync(new Uri("/signin", UriKind.Relative));
        var html = await page.Content.ReadAsStringAsync();
        var token = System.Text.RegularExpressions.Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signin")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["Token"] = TestServerHost.AdminToken, ["__RequestVerificationToken"] = token }),
        };
        request.Headers.Add("Cookie", string.Join("; ", page.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
        using var signedIn = await client.SendAsync(request);

        var policy = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("script-src", policy, StringComparison.Ordinal); // no script at all
        Assert.Equal("same-origin", page.Headers.GetValues("Referrer-Policy").Single()); // no-referrer would make a form's Origin "null"
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        var cookie = signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("fsr-console=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
    }
}
