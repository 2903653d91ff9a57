using System.Net;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>The real <c>serve</c> process on loopback behind a (simulated) reverse proxy on the same host: what it exposes and to whom.</summary>
public sealed class ExposureEndToEndTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-exposure-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task HundredWrongSignIns_FromOneClientBehindTheProxy_AreMostly429_WhileTheOperatorSignsInFromAnotherAddress()
    {
        await using var server = await ServeProcess.StartAsync(_root, new Dictionary<string, string> { ["ForwardedHeaders__KnownProxies"] = "127.0.0.1" });
        using var http = Browserless(server);
        var attacker = await SignInFormAsync(http, "203.0.113.7");

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 100; i++)
        {
            using var answer = await PostSignInAsync(http, attacker, $"guess-{i:D3}-0123456789abcdefghijklmnop");
            statuses.Add(answer.StatusCode);
        }

        using var attackerWithTheRightToken = await PostSignInAsync(http, attacker, TestServerHost.AdminToken);
        using var operatorSignsIn = await PostSignInAsync(http, await SignInFormAsync(http, "198.51.100.9"), TestServerHost.AdminToken);

        Assert.True(statuses.Count(s => s == HttpStatusCode.TooManyRequests) >= 85, $"answers: {string.Join(", ", statuses.Select(s => (int)s))}");
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.OK), 10, 15); // the burst, plus a refill every 6 s: the form again, "not the admin token"
        Assert.Equal(HttpStatusCode.TooManyRequests, attackerWithTheRightToken.StatusCode); // refused before the comparison
        Assert.Contains("try again in", await attackerWithTheRightToken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.NotNull(attackerWithTheRightToken.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.Redirect, operatorSignsIn.StatusCode);
        Assert.Contains(operatorSignsIn.Headers.GetValues("Set-Cookie"), c => c.StartsWith("fsr-console=", StringComparison.Ordinal));
        Assert.DoesNotContain("guess-", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheDataDirectory_Is0700_AndItsFiles0600_UnderUmask022_AndAnEarlierReleasesModesAreTightened()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix file modes; the server leaves ACLs alone
        }

        var data = Path.Combine(_root, "data");
        await using (var first = await ServeProcess.StartAsync(_root, umask: "022"))
        {
            using var page = await first.Client.GetAsync(new Uri("/signin", UriKind.Relative)); // an anti-forgery token: the console's key exists
            var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");
            await first.PostAsync(eventName, body, signature);
            await first.SettledDeliveriesAsync(TimeSpan.FromSeconds(30));
            AssertPrivate(data);
            Assert.Equal(0, await first.StopAsync());
        }

        // As 0.7 left it: everything readable by all.
        File.SetUnixFileMode(data, (UnixFileMode)0b111_101_101);
        foreach (var entry in new DirectoryInfo(data).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
        {
            entry.UnixFileMode = entry is DirectoryInfo ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100;
        }

        await using var second = await ServeProcess.StartAsync(_root, umask: "022");

        AssertPrivate(data);
        Assert.Matches(@"Data directory .*: \d+ files and folders were readable by other users; now only by this one", second.Log);
    }

    /// <summary>The directory 0700, every folder in it 0700 and every file 0600, with the files that matter there.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void AssertPrivate(string data)
    {
        const UnixFileMode folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(folder, File.GetUnixFileMode(data));
        var entries = new DirectoryInfo(data).EnumerateFileSystemInfos("*", SearchOption.AllDirectories).ToList();
        var names = entries.Select(e => Path.GetRelativePath(data, e.FullName)).ToList();
        Assert.Contains("freescout-rules.db", names);
        Assert.Contains("freescout-rules.db-wal", names);
        Assert.Contains("freescout-rules.db-shm", names);
        Assert.Contains(names, n => n.StartsWith("console-keys/key-", StringComparison.Ordinal));
        Assert.Contains(names, n => n.StartsWith("rules-cache/", StringComparison.Ordinal) && n.EndsWith(".rules", StringComparison.Ordinal));
        Assert.All(entries, e => Assert.True(e.UnixFileMode == (e is DirectoryInfo ? folder : file), $"{Path.GetRelativePath(data, e.FullName)} is {Convert.ToString((int)e.UnixFileMode, 8)}"));
    }

    /// <summary>A client that keeps no cookies and follows no redirects (each request says what it sends).</summary>
    private static HttpClient Browserless(ServeProcess server) =>
        new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = server.Client.BaseAddress };

    /// <summary>The sign-in form as the proxy forwards it for <paramref name="client"/>: its cookies and anti-forgery token.</summary>
    private static async Task<SignInForm> SignInFormAsync(HttpClient http, string client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/signin");
        request.Headers.Add("X-Forwarded-For", client);
        using var page = await http.SendAsync(request);
        var html = await page.Content.ReadAsStringAsync();
        return new SignInForm(
            client,
            string.Join("; ", page.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])),
            System.Text.RegularExpressions.Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value);
    }

    private static Task<HttpResponseMessage> PostSignInAsync(HttpClient http, SignInForm form, string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/signin")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["Token"] = token, ["__RequestVerificationToken"] = form.Verification }),
        };
        request.Headers.Add("Cookie", form.Cookies);
        request.Headers.Add("X-Forwarded-For", form.Client);
        return http.SendAsync(request);
    }

    private sealed record SignInForm(string Client, string Cookies, string Verification);
}
