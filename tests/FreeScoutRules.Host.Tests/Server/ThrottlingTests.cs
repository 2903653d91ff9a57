using FreeScoutRules.Host.Security;
using System.Net;
using FreeScoutRules.Host.Server;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// Guessing the admin token: wrong tokens are throttled per client (only failures count; a throttled client is refused
/// before its token is compared), the client is the real one behind a known proxy, and the log has one line a minute per client.
/// </summary>
public sealed class ThrottlingTests
{
    private const string Attacker = "203.0.113.7";
    private const string Operator = "198.51.100.9";

    [Fact]
    public async Task HundredWrongBearerTokens_FromOneClient_AreMostly429_WhileAnotherClientGetsIn()
    {
        await using var server = await TestServerHost.StartAsync();

        var answers = new List<HttpContext>();
        for (var i = 0; i < 100; i++)
        {
            answers.Add(await ApiAsync(server, Attacker, $"wrong-token-{i:D3}-0123456789abcdefghij"));
        }

        var refused = answers.Where(a => a.Response.StatusCode == StatusCodes.Status429TooManyRequests).ToList();
        Assert.InRange(answers.Count(a => a.Response.StatusCode == StatusCodes.Status401Unauthorized), 10, 11); // the burst (and a refill, if 6 s passed)
        Assert.InRange(refused.Count, 89, 90);
        Assert.All(refused, a => Assert.InRange(int.Parse(a.Response.Headers.RetryAfter.ToString(), System.Globalization.CultureInfo.InvariantCulture), 1, 6));
        Assert.Equal(StatusCodes.Status200OK, (await ApiAsync(server, Operator, TestServerHost.AdminToken)).Response.StatusCode);
        // Refused before the comparison: even the right token, from the throttled client.
        Assert.Equal(StatusCodes.Status429TooManyRequests, (await ApiAsync(server, Attacker, TestServerHost.AdminToken)).Response.StatusCode);
    }

    [Fact]
    public async Task OnlyWrongTokensCount_RightOnesAndNoneAtAll_Never429()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Admin:Throttle:Burst"] = "2" });

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(StatusCodes.Status200OK, (await ApiAsync(server, Attacker, TestServerHost.AdminToken)).Response.StatusCode);
            Assert.Equal(StatusCodes.Status401Unauthorized, (await ApiAsync(server, Attacker, null)).Response.StatusCode);
        }

        Assert.Equal(StatusCodes.Status401Unauthorized, (await ApiAsync(server, Attacker, "wrong-token-0123456789abcdefghij-1")).Response.StatusCode);
        Assert.Equal(StatusCodes.Status401Unauthorized, (await ApiAsync(server, Attacker, "wrong-token-0123456789abcdefghij-2")).Response.StatusCode);
        Assert.Equal(StatusCodes.Status429TooManyRequests, (await ApiAsync(server, Attacker, "wrong-token-0123456789abcdefghij-3")).Response.StatusCode);
    }

    [Fact]
    public async Task ForwardedFor_IsBelievedOnlyFromAKnownProxy()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["ForwardedHeaders:KnownProxies"] = "10.0.0.5", ["Admin:Throttle:Burst"] = "3" });

        // Through the known proxy: each forwarded client has its own limit.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(StatusCodes.Status401Unauthorized, (await ApiAsync(server, "10.0.0.5", "wrong-token-0123456789abcdefghij", forwardedFor: $"192.0.2.{i + 1}")).Response.StatusCode);
        }

        // From anyone else the header is ignored: the sender is the client, whatever it claims.
        var direct = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            direct.Add((await ApiAsync(server, "10.0.0.6", "wrong-token-0123456789abcdefghij", forwardedFor: $"192.0.2.{i + 100}")).Response.StatusCode);
        }

        Assert.Equal([401, 401, 401, 429, 429], direct);
    }

    [Fact]
    public async Task ForwardedFor_IsIgnoredWithoutAKnownProxy_EvenWithAspNetCoresForwardedHeadersSwitchOn()
    {
        // ASPNETCORE_FORWARDEDHEADERS_ENABLED=true adds ASP.NET Core's middleware trusting anyone; no proxy configured: no header read.
        await using var server = await TestServerHost.StartAsync(new() { ["FORWARDEDHEADERS_ENABLED"] = "true", ["Admin:Throttle:Burst"] = "3" });

        var statuses = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            statuses.Add((await ApiAsync(server, "10.0.0.6", "wrong-token-0123456789abcdefghij", forwardedFor: $"192.0.2.{i + 1}")).Response.StatusCode);
        }

        Assert.Equal([401, 401, 401, 429, 429], statuses);
    }

    [Fact]
    public async Task AnIPv6Client_IsItsSlash64()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Admin:Throttle:Burst"] = "2" });

        await ApiAsync(server, "2001:db8:1:2::1", "wrong-token-0123456789abcdefghij");
        await ApiAsync(server, "2001:db8:1:2:ffff:ffff:ffff:fffe", "wrong-token-0123456789abcdefghij");

        Assert.Equal(StatusCodes.Status429TooManyRequests, (await ApiAsync(server, "2001:db8:1:2:abcd::42", TestServerHost.AdminToken)).Response.StatusCode);
        Assert.Equal(StatusCodes.Status200OK, (await ApiAsync(server, "2001:db8:1:3::1", TestServerHost.AdminToken)).Response.StatusCode);
    }

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64")]
    [InlineData("::1", "::/64")]
    public void ClientOf_KeysIPv4ByAddress_AndIPv6ByItsSlash64(string address, string client) =>
        Assert.Equal(client, AuthenticationThrottle.ClientOf(IPAddress.Parse(address)));

    [Fact]
    public async Task WrongTokens_AreLoggedOnceAMinutePerClient_WithCounts_NeverOncePerTry()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero));
        await using var server = await TestServerHost.StartAsync(time: time);

        for (var i = 0; i < 30; i++)
        {
            await ApiAsync(server, Attacker, "wrong-token-0123456789abcdefghij");
        }

        await ApiAsync(server, Operator, "wrong-token-0123456789abcdefghij");
        Assert.DoesNotContain(server.Logs, l => l.Contains("Wrong tokens", StringComparison.Ordinal)); // nothing per try
        time.Advance(AuthenticationThrottle.LogPeriod);
        time.Advance(AuthenticationThrottle.LogPeriod); // a quiet minute: no line

        var lines = server.Logs.Where(l => l.Contains("Wrong tokens", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains(lines, l => l.Contains($"Wrong tokens from {Attacker} in the last minute: 10 (admin API 10); 20 more refused without being compared", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"Wrong tokens from {Operator} in the last minute: 1 (admin API 1); 0 more", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("wrong-token", StringComparison.Ordinal)); // tokens are never logged
    }

    /// <summary>GET /api/status from <paramref name="client"/> with a bearer token (or none), optionally through a proxy's X-Forwarded-For.</summary>
    private static Task<HttpContext> ApiAsync(TestServerHost server, string client, string? token, string? forwardedFor = null) =>
        server.TestServer.SendAsync(http =>
        {
            http.Request.Method = "GET";
            http.Request.Path = "/api/status";
            http.Connection.RemoteIpAddress = IPAddress.Parse(client);
            if (token is not null)
            {
                http.Request.Headers.Authorization = $"Bearer {token}";
            }

            if (forwardedFor is not null)
            {
                http.Request.Headers["X-Forwarded-For"] = forwardedFor;
            }
        });
}
