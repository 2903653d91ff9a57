using System.Net;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>The console over plain HTTP, for what a browser hides: sign in as a browser would, then fetch pages with the session's cookie.</summary>
internal static class ConsoleClient
{
    /// <summary>Signs in as a browser would (the form's anti-forgery token and cookies); returns the Cookie header of the session.</summary>
    public static async Task<string> SignInAsync(HttpClient client, string token = TestServerHost.AdminToken)
    {
        using var page = await client.GetAsync(new Uri("/signin", UriKind.Relative));
        var html = await page.Content.ReadAsStringAsync();
        var verification = System.Text.RegularExpressions.Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signin")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["Token"] = token, ["__RequestVerificationToken"] = verification }),
        };
        request.Headers.Add("Cookie", string.Join("; ", page.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
        using var signedIn = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        return signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("fsr-console=", StringComparison.Ordinal)).Split(';')[0];
    }

    public static async Task<HttpStatusCode> GetStatusAsync(HttpClient client, string path, string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookie);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>A page's status and HTML with the session's cookie (redirects not followed).</summary>
    public static async Task<(HttpStatusCode Status, string Html, Uri? Location)> GetAsync(HttpClient client, string path, string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookie);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Location);
    }
}
