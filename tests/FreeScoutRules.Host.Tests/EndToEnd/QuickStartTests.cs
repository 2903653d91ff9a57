using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>
/// The quick start anywhere, and one process per data directory: <c>serve --insecure-dev</c> in an empty folder runs
/// the built-in rules; a rules folder named but missing is refused in one line; a second <c>serve</c> on a data
/// directory in use exits 2 naming the holder, while read-only verbs work beside it.
/// </summary>
public sealed class QuickStartTests : IDisposable
{
    private readonly string _empty = Path.Combine(Path.GetTempPath(), $"fsr-quick-{Guid.NewGuid():N}");

    public QuickStartTests() => Directory.CreateDirectory(_empty);

    public void Dispose() => Directory.Delete(_empty, recursive: true);

    [Fact]
    public async Task ServeInsecureDev_InAnEmptyFolder_RunsTheBuiltInRules_AndSendWithoutASecretIsProcessed()
    {
        await using var server = await ServeProcess.StartWithAsync(
            _empty, new Dictionary<string, string> { ["FREESCOUTRULES_ADMIN_TOKEN"] = TestServerHost.AdminToken }, "--insecure-dev");

        var sent = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string> { ["FREESCOUTRULES_URLS"] = server.Client.BaseAddress!.ToString() }, null,
            "send", "--events", Path.Combine(AppContext.BaseDirectory, "samples", "send-and-close.jsonl"));
        var deliveries = await server.SettledDeliveriesAsync(TimeSpan.FromSeconds(30));

        Assert.True(sent.ExitCode == 0, sent.Output + sent.Error);
        Assert.Contains("sending unsigned deliveries", sent.Error, StringComparison.Ordinal);
        Assert.Contains(deliveries, d => d.GetProperty("statusChanges").EnumerateArray().Any(c => c.GetProperty("to").GetString() == "closed"));
        Assert.Contains("There is no rules folder at", server.Log, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_empty, "rules"), server.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", server.Log, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_empty, "data", "freescout-rules.db")));
    }

    [Fact]
    public async Task ASettingsFile_GivenWithConfig_IsReadByServeAndTheVerbs_BelowTheEnvironment()
    {
        var settings = Path.Combine(_empty, "freescout-rules.json");
        await File.WriteAllTextAsync(settings, """{ "Storage": { "DataDirectory": "store" }, "Rules": { "Directory": "ops-rules" }, "Dispatch": { "BotUserId": 7 } }""");
        Directory.CreateDirectory(Path.Combine(_empty, "ops-rules"));

        await using (var server = await ServeProcess.StartWithAsync(_empty, new Dictionary<string, string>(), "--config", settings, "--insecure-dev"))
        {
            Assert.True(File.Exists(Path.Combine(_empty, "store", "freescout-rules.db")));
            Assert.Contains(Path.Combine(_empty, "ops-rules"), server.Log, StringComparison.Ordinal);
        }

        var check = await CliProcess.RunInAsync(_empty, new Dictionary<string, string> { ["FREESCOUTRULES_CONFIG"] = settings, ["Rules__Directory"] = "elsewhere" }, null, "check");
        var missing = await CliProcess.RunInAsync(_empty, null, null, "check", "--config", "nope.json");
        await File.WriteAllTextAsync(Path.Combine(_empty, "broken.json"), """{ "Rules": { "Directory": "x" """);
        var broken = await CliProcess.RunInAsync(_empty, null, null, "serve", "--config", "broken.json");

        Assert.Contains("The rules folder " + Path.Combine(_empty, "elsewhere") + " does not exist", check.Error, StringComparison.Ordinal); // the environment wins
        Assert.Equal((2, $"--config (FREESCOUTRULES_CONFIG): {Path.Combine(_empty, "nope.json")} does not exist."), (missing.ExitCode, missing.Error.Trim()));
        Assert.Equal(2, broken.ExitCode);
        Assert.StartsWith($"--config (FREESCOUTRULES_CONFIG): {Path.Combine(_empty, "broken.json")} is not a JSON settings file:", Assert.Single(broken.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptyRulesFolder_StartsWithAWarning()
    {
        Directory.CreateDirectory(Path.Combine(_empty, "rules"));

        await using var server = await ServeProcess.StartWithAsync(_empty, new Dictionary<string, string>(), "--insecure-dev");

        Assert.Contains("warning FSR0100: The rules folder holds no .csx rule file: only the built-in status rules are in force", server.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve")]
    [InlineData("check")]
    [InlineData("test")]
    public async Task ARulesFolderNamedButMissing_IsRefusedInOneLine(string verb)
    {
        string[] arguments = verb switch
        {
            "serve" => ["serve", "--insecure-dev", "--urls", "http://127.0.0.1:0", "--rules", "my-rules", "--data-dir", "data"],
            "test" => ["test", "--rules", "my-rules", "--events", Path.Combine(AppContext.BaseDirectory, "samples", "send-and-close.jsonl")],
            _ => ["check", "--rules", "my-rules"],
        };

        var result = await CliProcess.RunInAsync(_empty, null, null, arguments);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"error FSR0100: The rules folder {Path.Combine(_empty, "my-rules")} does not exist", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASecondServe_OnADataDirectoryInUse_ExitsTwoNamingTheHolder_AndReadOnlyVerbsWorkBesideIt()
    {
        await using var first = await ServeProcess.StartAsync(_empty);
        var data = Path.Combine(_empty, "data");

        var second = await CliProcess.RunInAsync(_empty, new Dictionary<string, string> { ["FREESCOUTRULES_WEBHOOK_SECRET"] = SignedDeliveries.Secret }, null,
            "serve", "--urls", "http://127.0.0.1:0", "--data-dir", data, "--rules", Path.Combine(_empty, "rules"));
        var list = await CliProcess.RunAsync(null, "actions", "list", "--data-dir", data);

        Assert.Equal(2, second.ExitCode);
        var line = Assert.Single(second.ErrorLines);
        Assert.StartsWith($"The data directory {data} is in use by another freescout-rules process (PID {first.ProcessId})", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", second.Output, StringComparison.Ordinal);
        Assert.Equal(0, list.ExitCode);
        // The first server is unharmed.
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await first.PostAsync(
            SignedDeliveries.Get("convo.status.closed").Event, SignedDeliveries.Get("convo.status.closed").Body, SignedDeliveries.Get("convo.status.closed").Signature)).StatusCode);
    }
}
