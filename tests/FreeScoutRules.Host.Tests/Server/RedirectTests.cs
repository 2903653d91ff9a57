using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// No secret leaves its origin: no client the engine hands out follows redirects by itself, and the <c>http</c> action
/// follows a same-origin redirect, refuses a cross-origin one when the intent carries a secret (naming both URLs), and
/// follows one without secrets only when the intent opts in; the attempt record names the final URL.
/// </summary>
public sealed class RedirectTests : IAsyncLifetime
{
    private const string Value = "api-value-7c2e9b41d0";
    private HttpReceiver _origin = null!;
    private HttpReceiver _elsewhere = null!;

    public async Task InitializeAsync()
    {
        _origin = await HttpReceiver.StartAsync();
        _elsewhere = await HttpReceiver.StartAsync(); // another port: another origin
    }

    public async Task DisposeAsync()
    {
        await _origin.DisposeAsync();
        await _elsewhere.DisposeAsync();
    }

    private string Rules => $$"""
        public class Calls : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then()
                    .Do(ctx => ctx.Enqueue("http", new { url = "{{_origin.Address}}cross-secret", headers = new Dictionary<string, string> { { "X-Api-Key", Secret.Ref("api") } }, body = new { n = 1 } }))
                    .Do(ctx => ctx.Enqueue("http", new { url = "{{_origin.Address}}cross-secret-307", headers = new Dictionary<string, string> { { "Authorization", $"Bearer {Secret.Ref("api")}" } }, body = new { n = 2 } }))
                    .Do(ctx => ctx.Enqueue("http", new { url = "{{_origin.Address}}same", headers = new Dictionary<string, string> { { "X-Api-Key", Secret.Ref("api") } }, body = new { n = 3 } }))
                    .Do(ctx => ctx.Enqueue("http", new { url = "{{_origin.Address}}cross-plain", body = new { n = 4 } }))
                    .Do(ctx => ctx.Enqueue("http", new { url = "{{_origin.Address}}same-302", body = new { n = 6 } }))
                    .Do(ctx => ctx.Enqueue("http", new { url = "{{_origin.Address}}cross-optin", headers = new Dictionary<string, string> { { "Authorization", "Basic bGl0ZXJhbA==" }, { "X-Trace", "t1" } }, body = new { n = 5 }, followCrossOriginRedirects = true }));
            }
        }
        """;

    [Fact]
    public async Task CrossOriginRedirects_NeverCarryASecret_SameOriginOnesAreFollowed_AndTheRecordNamesTheFinalUrl()
    {
        _origin.Redirect("/cross-secret", 302, $"{_elsewhere.Address}landing1");
        _origin.Redirect("/cross-secret-307", 307, $"{_elsewhere.Address}landing2");
        _origin.Redirect("/same", 308, "/new-same");
        _origin.Redirect("/cross-plain", 302, $"{_elsewhere.Address}landing4");
        _origin.Redirect("/cross-optin", 307, $"{_elsewhere.Address}landing5");
        _origin.Redirect("/same-302", 302, "/moved");
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050", ["Secrets:api"] = Value },
            new Dictionary<string, string> { ["calls.csx"] = Rules });

        await server.PostFixtureAsync("convo.status.closed");
        JsonElement intents = default;
        await Eventually.UntilAsync("the six intents to finish", async () =>
        {
            intents = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions");
            return (intents.GetArrayLength() == 6 && intents.EnumerateArray().All(i => i.GetProperty("state").GetString() != "pending"), Describe.Intents(intents));
        });
        var byPath = intents.EnumerateArray().ToDictionary(i => new Uri(i.GetProperty("arguments").GetProperty("url").GetString()!).AbsolutePath);

        // The other origin got only the call that opted in and carried no secret, without its Authorization header.
        var landed = Assert.Single(_elsewhere.Calls);
        Assert.Equal(("POST", "/landing5"), (landed.Method, landed.Path));
        Assert.False(landed.Headers.ContainsKey("Authorization"));
        Assert.Equal("t1", landed.Headers["X-Trace"]);
        Assert.Contains("\"n\":5", landed.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(_elsewhere.Calls, c => c.Headers.Values.Any(v => v.Contains(Value, StringComparison.Ordinal)));

        foreach (var (path, landing) in new[] { ("/cross-secret", "landing1"), ("/cross-secret-307", "landing2") })
        {
            Assert.Equal("dead", byPath[path].GetProperty("state").GetString());
            var error = byPath[path].GetProperty("lastError").GetString()!;
            Assert.Contains($"{_origin.Address}{path.TrimStart('/')} redirected to another origin, {_elsewhere.Address}{landing}: not followed, because the intent carries a secret", error, StringComparison.Ordinal);
        }

        Assert.Equal("dead", byPath["/cross-plain"].GetProperty("state").GetString());
        Assert.Contains("set followCrossOriginRedirects = true", byPath["/cross-plain"].GetProperty("lastError").GetString(), StringComparison.Ordinal);

        // Same origin: followed with the secret, and the record names where it ended.
        Assert.Equal("done", byPath["/same"].GetProperty("state").GetString());
        var followed = Assert.Single(_origin.Calls, c => c.Path == "/new-same");
        Assert.Equal(("POST", Value), (followed.Method, followed.Headers["X-Api-Key"]));
        Assert.Contains("\"n\":3", followed.Body, StringComparison.Ordinal);
        Assert.Equal($"POST {_origin.Address}new-same (redirected from {_origin.Address}same) answered 200",
            byPath["/same"].GetProperty("attemptLog")[0].GetProperty("error").GetString());
        Assert.Equal("done", byPath["/cross-optin"].GetProperty("state").GetString());
        Assert.True(byPath["/same"].GetProperty("lastError").ValueKind == JsonValueKind.Null); // done: no error, the attempt names the final URL

        // A POST redirected with 302 would arrive as a GET without its body: refused, never sent there.
        Assert.Equal("dead", byPath["/same-302"].GetProperty("state").GetString());
        Assert.Contains("answered 302 to", byPath["/same-302"].GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Contains("that would send a GET without the body", byPath["/same-302"].GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_origin.Calls, c => c.Path == "/moved");
    }

    [Theory]
    [InlineData("http")]
    [InlineData("freescout")]
    [InlineData("any-third-party-plugin")]
    [InlineData("")]
    public async Task NoClientTheEngineHandsOut_FollowsARedirectByItself(string name)
    {
        _origin.Redirect("/go", 302, $"{_elsewhere.Address}landing");
        await using var server = await TestServerHost.StartAsync();
        using var client = server.Services.GetRequiredService<IHttpClientFactory>().CreateClient(name);

        using var response = await client.GetAsync(new Uri(_origin.Address, "go"));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Empty(_elsewhere.Calls);
    }
}
