using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>
/// Reconciliation in the real <c>serve</c> process against the FreeScout API stand-in: learning every conversation
/// at the first start, a pass asked with <c>freescout-rules reconcile</c> cut short by SIGKILL, and the pass at the
/// next start taking over from the watermark: every change found once, nothing stored twice.
/// </summary>
public sealed class ReconciliationEndToEndTests : IAsyncLifetime
{
    private const int Conversations = 200;
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-e2e-reconcile-{Guid.NewGuid():N}");
    private FreeScoutStandIn.FreeScoutStandIn _freescout = null!;

    public async Task InitializeAsync() => _freescout = await FreeScoutStandIn.FreeScoutStandIn.StartAsync("stand-in-key");

    public async Task DisposeAsync()
    {
        await _freescout.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private Dictionary<string, string> Environment() => new()
    {
        ["FREESCOUTRULES_FREESCOUT_URL"] = _freescout.Address.ToString(),
        ["FREESCOUTRULES_FREESCOUT_API_KEY"] = "stand-in-key",
        ["Reconciliation__Interval"] = "1.00:00:00", // the pass at start, then only the ones asked for
        ["Reconciliation__SettleTime"] = "00:00:00",
        ["Reconciliation__PageSize"] = "10",
        ["Reconciliation__RequestsPerSecond"] = "20",
    };

    private static async Task<JsonElement> ReconciliationAsync(ServeProcess server) =>
        (await server.Admin.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("reconciliation");

    [Fact]
    public async Task Serve_KilledInTheMiddleOfAPass_TheNextStartTakesOverFromTheWatermark_EveryChangeFoundOnce()
    {
        // Conversations FreeScout has before we are installed, updated within the initial lookback.
        var before = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddHours(-3).ToUnixTimeSeconds());
        _freescout.PutAll(FreeScoutStandIn.FreeScoutStandIn.Generate(Conversations, before, TimeSpan.FromSeconds(1))
            .Select(c => c with { Status = "active" }));
        var first = await ServeProcess.StartAsync(_root, Environment());
        await Eventually.UntilAsync("the pass at start to learn every conversation", async () =>
            (await ReconciliationAsync(first)).GetProperty("state").GetString() == "ok", TimeSpan.FromSeconds(60));
        var learnt = (await ReconciliationAsync(first)).GetProperty("lastPass");
        Assert.Equal(Conversations, learnt.GetProperty("stored").GetInt32());

        // While webhooks were lost, every conversation was closed, one a second.
        var closedFrom = before.AddHours(1);
        foreach (var id in Enumerable.Range(1, Conversations))
        {
            _freescout.Touch(id, "closed", closedFrom.AddSeconds(id));
        }

        _freescout.ClearRequests();
        _freescout.Latency = TimeSpan.FromMilliseconds(30);
        var cli = CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string> { ["FREESCOUTRULES_ADMIN_TOKEN"] = TestServerHost.AdminToken }, null,
            "reconcile", "--url", first.Client.BaseAddress!.ToString());
        await Eventually.UntilAsync("the asked pass to be half way", () => _freescout.Requests.Count >= Conversations / 10 / 2, TimeSpan.FromSeconds(60));
        first.Kill();
        var interrupted = await cli;
        await first.DisposeAsync();
        Assert.NotEqual(0, interrupted.ExitCode); // the server went away under it

        await using var restarted = await ServeProcess.StartAsync(_root, Environment());
        await Eventually.UntilAsync("the pass at the restart", async () =>
            (await ReconciliationAsync(restarted)).GetProperty("lastPass").ValueKind == JsonValueKind.Object, TimeSpan.FromSeconds(60));
        var resumed = (await ReconciliationAsync(restarted)).GetProperty("lastPass");
        var deliveries = await restarted.SettledDeliveriesAsync(TimeSpan.FromSeconds(60));
        var again = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string> { ["FREESCOUTRULES_ADMIN_TOKEN"] = TestServerHost.AdminToken }, null,
            "reconcile", "--url", restarted.Client.BaseAddress!.ToString(), "--since", before.AddMinutes(-1).ToString("o", CultureInfo.InvariantCulture));

        Assert.Equal(JsonValueKind.Null, resumed.GetProperty("error").ValueKind);
        Assert.True(resumed.GetProperty("since").GetDateTimeOffset() > before, $"the restart's pass started at {resumed.GetProperty("since")}, not at the watermark");
        foreach (var id in Enumerable.Range(1, Conversations))
        {
            var mine = deliveries.Where(d => d.GetProperty("conversationId").GetInt32() == id).ToList();
            Assert.Equal(2, mine.Count(d => d.GetProperty("event").GetString() == "reconciliation")); // learnt, then closed: each stored once
            var changes = mine.SelectMany(d => d.GetProperty("statusChanges").EnumerateArray()).ToList();
            var change = Assert.Single(changes);
            Assert.Equal("active", change.GetProperty("from").GetString());
            Assert.Equal("closed", change.GetProperty("to").GetString());
            Assert.Equal("reconciliation", change.GetProperty("via").GetString());
        }

        Assert.Equal(0, again.ExitCode);
        Assert.Contains($"Listed {Conversations} conversations", again.Output, StringComparison.Ordinal);
        Assert.Contains("0 newer snapshots stored", again.Output, StringComparison.Ordinal);
        Assert.Contains("no webhook reported it", restarted.Log + "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_WithoutARunningServer_SaysSo_AndWithAWrongSince_SaysWhatItWants()
    {
        var environment = new Dictionary<string, string> { ["FREESCOUTRULES_ADMIN_TOKEN"] = TestServerHost.AdminToken };

        var nobody = await CliProcess.RunWithEnvironmentAsync(environment, null, "reconcile", "--url", "http://127.0.0.1:9");
        var badSince = await CliProcess.RunWithEnvironmentAsync(environment, null, "reconcile", "--since", "last tuesday");

        Assert.Equal(2, nobody.ExitCode);
        Assert.Contains("is the server running?", nobody.Error, StringComparison.Ordinal);
        Assert.NotEqual(0, badSince.ExitCode);
        Assert.Contains("--since: 'last tuesday' is not a time", badSince.Error, StringComparison.Ordinal);
    }
}
