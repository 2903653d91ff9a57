using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Tests.Server;

public sealed class ConfigurationTests
{
    [Fact]
    public async Task Start_WithoutSecret_RefusesAndSaysWhereToFindIt()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestServerHost.StartAsync(new() { ["Webhook:Secret"] = null }));

        var failure = Assert.Single(ex.Failures);
        Assert.Contains("FREESCOUTRULES_WEBHOOK_SECRET", failure, StringComparison.Ordinal);
        Assert.Contains("Manage » Settings » API & Webhooks", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_InsecureDevelopmentMode_AcceptsUnsignedDeliveries()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Webhook:Secret"] = null, ["Webhook:InsecureSkipSignature"] = "true" });
        var (eventName, body, _) = SignedDeliveries.Get("convo.status.closed");

        var response = await server.PostAsync(eventName, body, signature: null);

        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task Start_InsecureDevelopmentModeWithASecret_StillChecksSignatures()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Webhook:InsecureSkipSignature"] = "true" });
        var (eventName, body, _) = SignedDeliveries.Get("convo.status.closed");

        var response = await server.PostAsync(eventName, body, signature: null);

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("Admin:Token", "short", "Admin:Token: the admin token (FREESCOUTRULES_ADMIN_TOKEN) is 5 characters long; it must be at least 32")]
    [InlineData("Webhook:MaxBodyBytes", "10", "between 1 KiB and 64 MiB")]
    [InlineData("Webhook:MaxConcurrentRequests", "0", "Webhook:MaxConcurrentRequests: must be between 1 and 10000 (got 0).")]
    [InlineData("Webhook:BodyIdleTimeout", "00:00:00", "Webhook:BodyIdleTimeout: must be between 100 ms and 5 minutes")]
    [InlineData("Webhook:MaxBufferedBytes", "1048576", "Webhook:MaxBufferedBytes: must hold the first 64 KiB of every request at once (Webhook:MaxConcurrentRequests = 64) and one body of Webhook:MaxBodyBytes (1048576): at least 5242880 (got 1048576).")]
    [InlineData("Admin:Throttle:Burst", "0", "Admin:Throttle:Burst: must be between 1 and 1000 wrong tokens (got 0).")]
    [InlineData("ForwardedHeaders:KnownProxies", "127.0.0.1,10.0.0.300", "ForwardedHeaders:KnownProxies: '10.0.0.300' is not an IP address")]
    [InlineData("ForwardedHeaders:KnownNetworks:0", "10.0.0.0/33", "ForwardedHeaders:KnownNetworks: '10.0.0.0/33' is not a network in CIDR notation")]
    [InlineData("Rules:Severity:FSR0002", "loud", "must be error, warning or none")]
    [InlineData("Rules:Severity:FSR9999", "error", "not a configurable diagnostic")]
    [InlineData("Dispatch:Workers", "0", "Dispatch:Workers: must be between 1 and 256 (got 0).")]
    [InlineData("Dispatch:InFlight", "0", "Dispatch:InFlight: must be between 1 and 4096 (got 0).")]
    [InlineData("Dispatch:Workers", "100", "Dispatch:InFlight: must be at least Dispatch:Workers (100): only conversations in flight can be evaluated (got 64).")]
    [InlineData("Storage:CheckpointPages", "0", "Storage:CheckpointPages: must be between 10 and 100000 (got 0).")]
    [InlineData("Storage:Provider", "mysql", "Storage:Provider: must be sqlite (the embedded default) or postgres (got 'mysql').")]
    [InlineData("Storage:Provider", "postgres", "ConnectionStrings:Postgres: is required with Storage:Provider=postgres: set the environment variable ConnectionStrings__Postgres")]
    [InlineData("Actions:ConcurrencyPerDestination", "17", "Actions:ConcurrencyPerDestination: must be between 1 and Actions:Concurrency (16) (got 17).")]
    [InlineData("Calendars:support:TimeZone", "Europe/Berlln", "Calendars:support:TimeZone: 'Europe/Berlln' is not a time zone this server knows")]
    [InlineData("Calendars:support:Holiday:0", "2026-12-07", "Calendars:support:Holiday: not a calendar setting: a calendar has TimeZone, Hours and Holidays.")]
    [InlineData("Calendars:support:Holidays", "2026-12-07", "Calendars:support:Holidays: holidays are a list: Holidays:0, Holidays:1 … (environment Calendars__support__Holidays__0=2026-12-25)")]
    [InlineData("Calendars:support:Hours:Monday:0", "09:00-12:00", "Calendars:support:Hours:Monday: give a day's intervals as one value, separated by commas")]
    [InlineData("FreeScout:Url", "support.example.com", "FreeScout:Url: 'support.example.com' is not an http(s) address such as https://support.example.com")]
    [InlineData("Reconciliation:Interval", "00:00:01", "Reconciliation:Interval: must be 00:00:00 (off) or between 10 seconds and 1 day")]
    [InlineData("Reconciliation:Interval", "00:10:00", "Reconciliation:Interval: reconciliation reads FreeScout's API, but the FreeScout connection is not configured")]
    [InlineData("Reconciliation:RequestsPerSecond", "0", "Reconciliation:RequestsPerSecond: must be more than 0 and at most 100")]
    [InlineData("Reconciliation:PageSize", "1000", "Reconciliation:PageSize: must be between 1 and 500")]
    [InlineData("Leases:Time", "00:00:00.500", "Leases:Time: must be between 1 second and 1 hour (got 00:00:00.5000000)")]
    [InlineData("Leases:Time", "02:00:00", "Leases:Time: must be between 1 second and 1 hour (got 02:00:00)")]
    public async Task Start_WithABadSetting_RefusesNamingIt(string key, string value, string expected)
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestServerHost.StartAsync(new() { [key] = value }));

        Assert.Contains(ex.Failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_WithRulesThatDoNotCompile_RefusesWithTheDiagnostics()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TestServerHost.StartAsync(extraRules: new Dictionary<string, string> { ["broken.csx"] = "this is not C#" }));

        Assert.Contains("broken.csx(1,", ex.Message, StringComparison.Ordinal);
        Assert.Contains(": error CS", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_LiveAndReady()
    {
        await using var server = await TestServerHost.StartAsync();

        Assert.Equal("Healthy", await server.Client.GetStringAsync("/healthz"));
        Assert.Equal("Healthy", await server.Client.GetStringAsync("/readyz"));
        Assert.Contains("freescout_rules", await server.Admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FREESCOUTRULES_ADMIN_TOKEN", "short", "configuration: Admin:Token: the admin token (FREESCOUTRULES_ADMIN_TOKEN) is 5 characters long; it must be at least 32")]
    [InlineData("Dispatch__Workers", "many", "configuration: Failed to convert configuration value")]
    [InlineData("Secrets__bad-name", "x", "configuration: Secrets:")]
    [InlineData("Calendars__support__Hours__Mon", "09:00-17:00", "configuration: Calendars:support:")]
    [InlineData("FREESCOUTRULES_FREESCOUT_URL", "ftp://support.example.com", "configuration: FreeScout:Url: 'ftp://support.example.com' is not an http(s) address")]
    [InlineData("Storage__Provider", "postgres", "configuration: ConnectionStrings:Postgres: is required with Storage:Provider=postgres")]
    public async Task Serve_BadSetting_PrintsOneClearLine_NoStackTrace_AndExits2(string variable, string value, string expected)
    {
        var data = Path.Combine(Path.GetTempPath(), $"fsr-config-{Guid.NewGuid():N}");
        try
        {
            var result = await CliProcess.RunWithEnvironmentAsync(
                new Dictionary<string, string> { ["FREESCOUTRULES_WEBHOOK_SECRET"] = "a-secret", [variable] = value },
                null, "serve", "--urls", "http://127.0.0.1:0", "--data-dir", data, "--rules", Path.Combine(AppContext.BaseDirectory, "rules"));

            Assert.Equal(2, result.ExitCode);
            Assert.StartsWith(expected, result.ErrorLines[0], StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", result.Output + result.Error, StringComparison.Ordinal);
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
    public async Task Serve_OnPostgres_WithAConnectionStringNpgsqlCannotRead_SaysWhy_WithoutItsPassword()
    {
        var data = Path.Combine(Path.GetTempPath(), $"fsr-config-{Guid.NewGuid():N}");
        var result = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string>
            {
                ["FREESCOUTRULES_WEBHOOK_SECRET"] = "a-secret",
                ["Storage__Provider"] = "postgres",
                ["ConnectionStrings__Postgres"] = "Host=db.example;Password=hunter2-do-not-print;Colour=blue",
            },
            null, "serve", "--urls", "http://127.0.0.1:0", "--data-dir", data, "--rules", Path.Combine(AppContext.BaseDirectory, "rules"));

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("configuration: ConnectionStrings:Postgres: is not a connection string Npgsql reads: ", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.Contains("colour", result.ErrorLines[0], StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("hunter2", result.Output + result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(data) && Directory.EnumerateFileSystemEntries(data).Any(), "nothing written");
    }

    [Theory]
    [InlineData(null, "Console:KeyEncryptionKey: is required with Storage:Provider=postgres while the console is on")]
    [InlineData(TestServerHost.AdminToken, "Console:KeyEncryptionKey: is the admin token; give it a secret of its own")]
    [InlineData("short", "Console:KeyEncryptionKey: the console key (FREESCOUTRULES_CONSOLE_KEY) is 5 characters long")]
    public async Task Start_OnPostgres_WithTheConsoleOn_NeedsAConsoleKeyOfItsOwn(string? key, string expected)
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestServerHost.StartAsync(new()
        {
            ["Storage:Provider"] = "postgres",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Database=never_reached",
            ["Console:KeyEncryptionKey"] = key,
        }));

        Assert.Contains(ex.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }
}
