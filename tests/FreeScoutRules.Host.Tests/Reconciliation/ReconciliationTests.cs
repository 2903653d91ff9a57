using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FreeScoutRules.FreeScoutStandIn;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Reconciliation;

/// <summary>
/// Reconciliation in the real server composition against the FreeScout API stand-in (a real Kestrel app): lost
/// webhooks recovered once, webhook and reconciliation agreeing on one change, paging, and FreeScout failing.
/// Passes are asked through the admin API (the interval is off), so each test decides when one runs.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class ReconciliationTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
    private FreeScoutStandIn.FreeScoutStandIn _freescout = null!;

    public async Task InitializeAsync() => _freescout = await FreeScoutStandIn.FreeScoutStandIn.StartAsync("the-right-key");

    public async Task DisposeAsync() => await _freescout.DisposeAsync();

    private Task<TestServerHost> StartServerAsync(string apiKey = "the-right-key", Dictionary<string, string?>? more = null, string? root = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["FreeScout:Url"] = _freescout.Address.ToString(),
            ["FreeScout:ApiKey"] = apiKey,
            ["Reconciliation:Interval"] = "00:00:00",
            ["Reconciliation:SettleTime"] = "00:00:00",
            ["Reconciliation:RequestsPerSecond"] = "50",
            ["Reconciliation:Retries"] = "1",
            ["Reconciliation:RequestTimeout"] = "00:00:05",
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return TestServerHost.StartAsync(settings, root: root);
    }

    /// <summary>A conversation body as FreeScout's webhook sends it, with the given id, status and updatedAt.</summary>
    private static byte[] Webhook(int id, string status, DateTimeOffset updatedAt)
    {
        var json = JsonNode.Parse(SignedDeliveries.Get("convo.status.closed").Body)!.AsObject();
        json["id"] = id;
        json["number"] = 1000 + id;
        json["status"] = status;
        json["updatedAt"] = updatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    private static async Task SendAsync(TestServerHost server, int id, string status, DateTimeOffset updatedAt, string eventName = "convo.status")
    {
        var body = Webhook(id, status, updatedAt);
        Assert.Equal(HttpStatusCode.Accepted, (await server.PostAsync(eventName, body, SignedDeliveries.Sign(body))).StatusCode);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Pass)> PassAsync(TestServerHost server, DateTimeOffset? since = null)
    {
        var query = since is { } at ? "?since=" + Uri.EscapeDataString(at.ToString("o", System.Globalization.CultureInfo.InvariantCulture)) : "";
        using var response = await server.Admin.PostAsync(new Uri("/api/reconciliation/passes" + query, UriKind.Relative), null);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    private static string Changes(IEnumerable<JsonElement> deliveries, int conversationId) => string.Join(",", deliveries
        .Where(d => d.GetProperty("conversationId").GetInt32() == conversationId)
        .OrderBy(d => d.GetProperty("id").GetInt64())
        .SelectMany(d => d.GetProperty("statusChanges").EnumerateArray())
        .Select(c => $"{c.GetProperty("from").GetString() ?? "?"}->{c.GetProperty("to").GetString()} via {c.GetProperty("via").GetString()}"));

    private static int Reconciled(IEnumerable<JsonElement> deliveries, int conversationId) =>
        deliveries.Count(d => d.GetProperty("conversationId").GetInt32() == conversationId && d.GetProperty("event").GetString() == "reconciliation");

    [Fact]
    public async Task WebhooksLostDuringAnOutageLongerThanFreeScoutRetries_AreRecoveredOnce_ViaReconciliation()
    {
        await using var server = await StartServerAsync();
        foreach (var id in new[] { 1, 2, 3 })
        {
            await SendAsync(server, id, "active", T0);
            _freescout.Put(new StandInConversation(id, 1000 + id, "active", T0));
        }

        await server.SettledDeliveriesAsync();
        // While we were down (longer than FreeScout's 75 minutes of retries) 1 was closed and 2 set pending; their webhooks were dropped.
        _freescout.Touch(1, "closed", T0.AddHours(3));
        _freescout.Touch(2, "pending", T0.AddHours(3).AddSeconds(5));

        var (status, pass) = await PassAsync(server, T0.AddMinutes(-1));
        var deliveries = await server.SettledDeliveriesAsync();
        var (_, again) = await PassAsync(server, T0.AddMinutes(-1));
        var afterAgain = await server.SettledDeliveriesAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2, pass.GetProperty("stored").GetInt32());
        Assert.Equal(1, pass.GetProperty("notNewer").GetInt32());
        Assert.Equal("active->closed via reconciliation", Changes(deliveries, 1).Split(',').Last());
        Assert.Equal("active->pending via reconciliation", Changes(deliveries, 2).Split(',').Last());
        Assert.Equal(0, Reconciled(deliveries, 3));
        Assert.Equal(0, again.GetProperty("stored").GetInt32()); // nothing newer the second time: nothing stored, nothing derived
        Assert.Equal(deliveries.Length, afterAgain.Length);
        Assert.Contains(server.Logs, line => line.Contains("#1001", StringComparison.Ordinal) && line.Contains("no webhook reported it", StringComparison.Ordinal));
        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Matches(@"(?m)^freescout_rules_reconciliation_changes_total\{[^}]*to=""closed""[^}]*\} 1$", metrics);
        Assert.Matches(@"(?m)^freescout_rules_reconciliation_changes_total\{[^}]*to=""pending""[^}]*\} 1$", metrics);
    }

    [Fact]
    public async Task WebhookAndReconciliationReportingTheSameClose_YieldOneStatusChanged_WhicheverComesFirst()
    {
        await using var server = await StartServerAsync();
        // 1: the webhook first, then reconciliation lists the same snapshot.
        await SendAsync(server, 1, "active", T0);
        await SendAsync(server, 1, "closed", T0.AddMinutes(5));
        _freescout.Put(new StandInConversation(1, 1001, "closed", T0.AddMinutes(5)));
        // 2: reconciliation first, then the webhook (late, FreeScout's retry) and the second report of Send & Close.
        await SendAsync(server, 2, "active", T0);
        _freescout.Put(new StandInConversation(2, 1002, "closed", T0.AddMinutes(5)));
        await server.SettledDeliveriesAsync();

        var (_, pass) = await PassAsync(server, T0);
        await server.SettledDeliveriesAsync();
        await SendAsync(server, 2, "closed", T0.AddMinutes(5));
        await SendAsync(server, 2, "closed", T0.AddMinutes(5), "convo.agent.reply.created");
        var deliveries = await server.SettledDeliveriesAsync();

        Assert.Equal(1, pass.GetProperty("stored").GetInt32());
        Assert.Equal("?->active via convo.status,active->closed via convo.status", Changes(deliveries, 1));
        Assert.Equal(0, Reconciled(deliveries, 1)); // not newer than the known state: not stored
        Assert.Equal("?->active via convo.status,active->closed via reconciliation", Changes(deliveries, 2));
    }

    [Fact]
    public async Task LateStaleWebhook_AfterReconciliation_ChangesNothing()
    {
        await using var server = await StartServerAsync();
        await SendAsync(server, 5, "active", T0);
        _freescout.Put(new StandInConversation(5, 1005, "closed", T0.AddMinutes(10)));
        await server.SettledDeliveriesAsync();
        await PassAsync(server, T0);
        await server.SettledDeliveriesAsync();

        // FreeScout's retry of a webhook from before the close (pending at minute 3) arrives last.
        await SendAsync(server, 5, "pending", T0.AddMinutes(3));
        var deliveries = await server.SettledDeliveriesAsync();

        Assert.Equal("?->active via convo.status,active->closed via reconciliation", Changes(deliveries, 5));
        var last = deliveries.Where(d => d.GetProperty("conversationId").GetInt32() == 5).MaxBy(d => d.GetProperty("id").GetInt64());
        Assert.True(last.GetProperty("stale").GetBoolean(), last.ToString());
    }

    [Fact]
    public async Task ManyPages_EveryConversationStoredOnce_InUpdatedOrder_WithoutAskingForMorePagesThanNeeded()
    {
        await using var server = await StartServerAsync(more: new() { ["Reconciliation:PageSize"] = "50" });
        foreach (var c in FreeScoutStandIn.FreeScoutStandIn.Generate(230, T0, TimeSpan.FromSeconds(7)))
        {
            _freescout.Put(c);
        }

        // 120 conversations updated in one and the same second: more than a page, paged by number.
        foreach (var id in Enumerable.Range(501, 120))
        {
            _freescout.Put(new StandInConversation(id, 1000 + id, "active", T0.AddDays(1)));
        }

        var (status, pass) = await PassAsync(server, T0.AddSeconds(-1));
        var deliveries = await server.SettledDeliveriesAsync(timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(350, pass.GetProperty("stored").GetInt32());
        var reconciled = deliveries.Where(d => d.GetProperty("event").GetString() == "reconciliation").ToList();
        Assert.Equal(350, reconciled.Count);
        Assert.Equal(350, reconciled.Select(d => d.GetProperty("conversationId").GetInt32()).Distinct().Count());
        // Unknown conversations are learnt, not changed: nothing is derived without a known state.
        Assert.All(reconciled, d => Assert.Empty(d.GetProperty("statusChanges").EnumerateArray()));
        // 230 at 49 new a page (keyset paging repeats the newest), then the one-second block by page number.
        Assert.InRange(pass.GetProperty("requests").GetInt32(), 8, 12);
        var queries = _freescout.Requests.Select(r => r.QueryString).ToList();
        Assert.All(queries, q => Assert.Contains("sortField=updatedAt&sortOrder=asc", q, StringComparison.Ordinal));
        var watermark = pass.GetProperty("watermark").GetDateTimeOffset();
        Assert.Equal(T0.AddDays(1), watermark);
    }

    [Fact]
    public async Task RecentlyUpdatedConversations_AreLeftToTheirWebhooks_UntilTheySettle()
    {
        await using var server = await StartServerAsync(more: new() { ["Reconciliation:SettleTime"] = "00:10:00" });
        var now = DateTimeOffset.UtcNow;
        _freescout.Put(new StandInConversation(1, 1001, "closed", now.AddMinutes(-30)));
        _freescout.Put(new StandInConversation(2, 1002, "closed", now.AddMinutes(-1)));

        var (_, pass) = await PassAsync(server, now.AddHours(-1));
        var deliveries = await server.SettledDeliveriesAsync();

        Assert.Equal(1, pass.GetProperty("stored").GetInt32());
        Assert.Equal(1, pass.GetProperty("leftForNextPass").GetInt32());
        Assert.Equal(1, Reconciled(deliveries, 1));
        Assert.Equal(0, Reconciled(deliveries, 2));
        Assert.True(pass.GetProperty("watermark").GetDateTimeOffset() < now.AddMinutes(-10));
    }

    [Fact]
    public async Task WrongApiKey_ThePassFailsSayingSo_StatusAndMetricsShowIt_ReadinessDoesNot()
    {
        await using var server = await StartServerAsync(apiKey: "a-wrong-key");
        _freescout.Put(new StandInConversation(1, 1001, "closed", T0));

        var (status, pass) = await PassAsync(server);
        var overview = await server.Admin.GetFromJsonAsync<JsonElement>("/api/status");
        var metrics = await server.Admin.GetStringAsync("/metrics");
        var ready = await server.Client.GetAsync(new Uri("/readyz", UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal(1, pass.GetProperty("requests").GetInt32()); // the refused request counts
        Assert.Contains("FreeScout refused the API key (401", pass.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("FREESCOUTRULES_FREESCOUT_API_KEY", pass.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("failing", overview.GetProperty("reconciliation").GetProperty("state").GetString());
        Assert.Contains("refused the API key", overview.GetProperty("reconciliation").GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Matches(@"(?m)^freescout_rules_reconciliation_failing\{[^}]*\} 1$", metrics);
        Assert.Matches(@"(?m)^freescout_rules_reconciliation_passes_total\{[^}]*result=""failed""[^}]*\} 1$", metrics);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains(server.Logs, line => line.Contains("Reconciliation with FreeScout failed", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Logs, line => line.Contains("a-wrong-key", StringComparison.Ordinal)); // a secret is never logged
        Assert.Single(_freescout.Requests); // a refused key is not retried
        Assert.Equal("a-wrong-key", _freescout.Requests[0].ApiKey);
    }

    [Fact]
    public async Task FreeScoutDown_ThePassFailsAndStoresNothing_TheNextPassAfterItIsBackRecoversFromTheSameWatermark()
    {
        await using var server = await StartServerAsync();
        await SendAsync(server, 1, "active", T0);
        await server.SettledDeliveriesAsync();
        _freescout.Put(new StandInConversation(1, 1001, "active", T0));
        var (_, first) = await PassAsync(server, T0.AddMinutes(-5)); // sets the watermark at T0
        _freescout.Touch(1, "closed", T0.AddMinutes(1));
        _freescout.Down = true;

        var (downStatus, down) = await PassAsync(server);
        _freescout.Down = false;
        var (upStatus, up) = await PassAsync(server);
        var deliveries = await server.SettledDeliveriesAsync();
        var overview = await server.Admin.GetFromJsonAsync<JsonElement>("/api/status");

        Assert.Equal(T0, first.GetProperty("watermark").GetDateTimeOffset());
        Assert.Equal(HttpStatusCode.BadGateway, downStatus);
        Assert.Contains("did not answer", down.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, down.GetProperty("stored").GetInt32());
        Assert.Equal(HttpStatusCode.OK, upStatus);
        Assert.Equal(1, up.GetProperty("stored").GetInt32());
        Assert.Equal(T0.AddMinutes(-1), up.GetProperty("since").GetDateTimeOffset()); // the watermark minus the overlap
        Assert.Equal("?->active via convo.status,active->closed via reconciliation", Changes(deliveries, 1));
        Assert.Equal("ok", overview.GetProperty("reconciliation").GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, overview.GetProperty("reconciliation").GetProperty("lastError").ValueKind);
    }

    [Fact]
    public async Task TooManyRequestsAndServerErrors_AreRetriedWithBackoff_HonouringRetryAfter()
    {
        await using var server = await StartServerAsync(more: new() { ["Reconciliation:Retries"] = "3" });
        _freescout.Put(new StandInConversation(1, 1001, "closed", T0));
        _freescout.FailNext(1, HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(1));

        var started = DateTimeOffset.UtcNow;
        var (status, pass) = await PassAsync(server, T0.AddMinutes(-1));
        var took = DateTimeOffset.UtcNow - started;
        _freescout.FailNext(1, HttpStatusCode.ServiceUnavailable);
        var (again, _) = await PassAsync(server, T0.AddMinutes(-1));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, pass.GetProperty("stored").GetInt32());
        Assert.True(took >= TimeSpan.FromSeconds(0.9), $"the retry came after {took.TotalSeconds:0.00} s, before FreeScout's Retry-After of 1 s");
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(4, _freescout.Requests.Count);
    }

    [Fact]
    public async Task RequestsKeepToTheConfiguredRate()
    {
        await using var server = await StartServerAsync(more: new() { ["Reconciliation:PageSize"] = "10", ["Reconciliation:RequestsPerSecond"] = "5" });
        foreach (var c in FreeScoutStandIn.FreeScoutStandIn.Generate(45, T0, TimeSpan.FromSeconds(1)))
        {
            _freescout.Put(c);
        }

        var (_, pass) = await PassAsync(server, T0.AddSeconds(-1));
        var times = _freescout.Requests.Select(r => r.ReceivedAt).Order().ToList();

        Assert.Equal(45, pass.GetProperty("stored").GetInt32());
        Assert.True(times.Count >= 5, $"{times.Count} requests");
        var span = times[^1] - times[0];
        // The pacer spaces the requests' starts; their arrival here also carries the network's jitter (the first
        // request opens the connection): no two closer than 3/4 of the spacing, and the whole at the pace.
        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToList();
        var described = string.Join(", ", gaps.Select(g => g.TotalMilliseconds.ToString("0")));
        Assert.All(gaps, gap => Assert.True(gap >= TimeSpan.FromMilliseconds(150), $"requests {gap.TotalMilliseconds:0} ms apart, far closer than 1/5 s: {described}"));
        Assert.True(times[^1] - times[0] >= TimeSpan.FromSeconds(gaps.Count * 0.2 * 0.95), $"{times.Count} requests faster than 5 a second: {described}");
    }

    [Fact]
    public async Task StatusShowsReconciliationOnByDefault_WhenFreeScoutIsConfigured_AndOffWithoutIt()
    {
        await using (var connected = await TestServerHost.StartAsync(new Dictionary<string, string?>
        {
            ["FreeScout:Url"] = _freescout.Address.ToString(),
            ["FreeScout:ApiKey"] = "the-right-key",
        }))
        {
            var status = (await connected.Admin.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("reconciliation");
            Assert.Equal("00:05:00", status.GetProperty("interval").GetString());
            await Eventually.UntilAsync("the first pass at start", async () =>
                (await connected.Admin.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("reconciliation").GetProperty("state").GetString() == "ok");
        }

        await using var alone = await TestServerHost.StartAsync();
        var off = (await alone.Admin.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("reconciliation");
        using var refused = await alone.Admin.PostAsync(new Uri("/api/reconciliation/passes", UriKind.Relative), null);

        var fresh = await alone.Admin.GetStringAsync("/metrics");
        Assert.Equal("off", off.GetProperty("state").GetString());
        foreach (var to in new[] { "active", "pending", "closed", "spam" })
        {
            // From 0 at start: Prometheus' increase() misses a series whose first sample is already 1.
            Assert.Matches($@"(?m)^freescout_rules_reconciliation_changes_total\{{[^}}]*to=""{to}""[^}}]*\}} 0$", fresh);
        }

        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("FREESCOUTRULES_FREESCOUT_URL", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task APassAskedFor_WhileAnotherInstanceHoldsTheReconciliationLease_Is409SayingWhichUntilWhen_AndReadsNothing()
    {
        await using var server = await StartServerAsync();
        _freescout.Put(new StandInConversation(1, 1001, "closed", T0));
        // Another serve process on the same store (PostgreSQL, issue 22) holds the lease: written as its join and taking would.
        var now = DateTimeOffset.UtcNow;
        var until = now.AddMinutes(10);
        long other;
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(server.Root, "data", "freescout-rules.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var join = connection.CreateCommand();
            join.CommandText = "INSERT INTO instances (name, started_at, renewed_at, expires_at) VALUES ('other-host:42', $now, $now, $until) RETURNING id";
            join.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            join.Parameters.AddWithValue("$until", until.ToUnixTimeMilliseconds());
            other = (long)(await join.ExecuteScalarAsync())!;
            await using var take = connection.CreateCommand();
            take.CommandText = "INSERT INTO leases (name, instance_id, epoch, acquired_at, expires_at) VALUES ('reconciliation', $other, 7, $now, $until)";
            take.Parameters.AddWithValue("$other", other);
            take.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            take.Parameters.AddWithValue("$until", until.ToUnixTimeMilliseconds());
            await take.ExecuteNonQueryAsync();
        }

        var (status, problem) = await PassAsync(server, T0.AddMinutes(-1));
        var overview = await server.Admin.GetFromJsonAsync<JsonElement>("/api/status");

        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("Reconciliation runs in another instance", problem.GetProperty("title").GetString());
        var expected = until.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"instance {other} (other-host:42) until {expected}", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(other, problem.GetProperty("holder").GetProperty("instanceId").GetInt64());
        Assert.Equal(7, problem.GetProperty("holder").GetProperty("epoch").GetInt64());
        Assert.Empty(_freescout.Requests); // FreeScout is read by the holder alone
        var lease = Assert.Single(overview.GetProperty("leases").EnumerateArray(), l => l.GetProperty("name").GetString() == "reconciliation");
        Assert.Equal((other, "other-host:42", true, false), (lease.GetProperty("instanceId").GetInt64(), lease.GetProperty("instanceName").GetString(), lease.GetProperty("held").GetBoolean(), lease.GetProperty("self").GetBoolean()));
        Assert.Equal(2, overview.GetProperty("instances").EnumerateArray().Count(i => i.GetProperty("alive").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, overview.GetProperty("reconciliation").GetProperty("lastPass").ValueKind); // no pass ran here
    }

    [Fact]
    public async Task APassAskedFor_GoesOnWhenTheCallerGoesAway_AndTheWatermarkShowsAtTheNextStartBeforeAnyPass()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fsr-server-{Guid.NewGuid():N}");
        _freescout.PutAll(FreeScoutStandIn.FreeScoutStandIn.Generate(40, T0, TimeSpan.FromSeconds(1)));
        _freescout.Latency = TimeSpan.FromMilliseconds(150);
        await using (var server = await StartServerAsync(more: new() { ["Reconciliation:PageSize"] = "10" }, root: root))
        {
            server.DeleteRootOnDispose = false;
            using var impatient = new CancellationTokenSource();
            var asked = server.Admin.PostAsync(
                new Uri("/api/reconciliation/passes?since=" + Uri.EscapeDataString(T0.AddMinutes(-1).ToString("o", System.Globalization.CultureInfo.InvariantCulture)), UriKind.Relative),
                null, impatient.Token);
            await Eventually.UntilAsync("the pass to show while it runs", async () =>
                (await server.Admin.GetFromJsonAsync<JsonElement>("/api/reconciliation")).GetProperty("currentPass").ValueKind == JsonValueKind.Object);
            await impatient.CancelAsync(); // the caller goes away (Ctrl+C, a dropped session)
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => asked);
            await Eventually.UntilAsync("the pass to finish without its caller", async () =>
                (await server.Admin.GetFromJsonAsync<JsonElement>("/api/reconciliation")).GetProperty("lastPass") is { ValueKind: JsonValueKind.Object } last
                && last.GetProperty("stored").GetInt32() == 40);
        }

        await using var restarted = await StartServerAsync(root: root);
        var status = await restarted.Admin.GetFromJsonAsync<JsonElement>("/api/reconciliation");

        Assert.Equal(T0.AddSeconds(39), status.GetProperty("watermark").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("lastPass").ValueKind);
    }
}
