using System.Net;
using System.Net.Http.Headers;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>A typed admin token refuses the start with a hint; <c>freescout-rules token</c> prints one the server takes.</summary>
public sealed class AdminTokenStrengthTests
{
    [Theory]
    [InlineData("aaaaaaaaaaaaaaaaaaaa", "is 20 characters long; it must be at least 32")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "has only 1 different character; a random one has at least 10")]
    [InlineData("changeme-changeme-changeme-changeme", "has only 8 different characters")]
    public async Task Start_WithATypedAdminToken_Refuses_WithHowToGenerateOne(string token, string expected)
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestServerHost.StartAsync(new() { ["Admin:Token"] = token }));

        var failure = Assert.Single(ex.Failures);
        Assert.StartsWith("Admin:Token: the admin token (FREESCOUTRULES_ADMIN_TOKEN) ", failure, StringComparison.Ordinal);
        Assert.Contains(expected, failure, StringComparison.Ordinal);
        Assert.Contains("freescout-rules token", failure, StringComparison.Ordinal);
        Assert.DoesNotContain(token, failure, StringComparison.Ordinal); // the value is never printed
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the metrics token's validation reads the admin token's: both failed at once, as a stack trace
    public async Task Serve_WithAWeakAdminToken_PrintsOneLineWithTheHint_AndExits2(bool metricsToken)
    {
        var data = Path.Combine(Path.GetTempPath(), $"fsr-token-{Guid.NewGuid():N}");
        try
        {
            var environment = new Dictionary<string, string> { ["FREESCOUTRULES_WEBHOOK_SECRET"] = "a-secret", ["FREESCOUTRULES_ADMIN_TOKEN"] = "aaaaaaaaaaaaaaaaaaaa" };
            if (metricsToken)
            {
                environment["FREESCOUTRULES_METRICS_TOKEN"] = "metrics-token-0123456789abcdefGHIJKLmnop";
            }

            var result = await CliProcess.RunWithEnvironmentAsync(
                environment,
                null, "serve", "--urls", "http://127.0.0.1:0", "--data-dir", data, "--rules", Path.Combine(AppContext.BaseDirectory, "rules"));

            Assert.Equal(2, result.ExitCode);
            Assert.StartsWith("configuration: Admin:Token: the admin token (FREESCOUTRULES_ADMIN_TOKEN) is 20 characters long", result.ErrorLines[0], StringComparison.Ordinal);
            Assert.Contains("`freescout-rules token`", result.ErrorLines[0], StringComparison.Ordinal);
            Assert.DoesNotContain("aaaaaaaaaaaaaaaaaaaa", result.Output + result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", result.Output + result.Error, StringComparison.Ordinal);
            Assert.Single(result.ErrorLines, l => l.StartsWith("configuration: Admin:Token:", StringComparison.Ordinal));
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    [Fact]
    public async Task TokenVerb_PrintsANewUrlSafeRandomToken_ThatTheServerAccepts()
    {
        var first = await CliProcess.RunAsync(null, "token");
        var second = await CliProcess.RunAsync(null, "token");
        var token = Assert.Single(first.OutputLines);

        Assert.Equal(0, first.ExitCode);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", token);
        Assert.NotEqual(token, Assert.Single(second.OutputLines));
        await using var server = await TestServerHost.StartAsync(new() { ["Admin:Token"] = token });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/status");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var answer = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }
}
