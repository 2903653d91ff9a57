using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

public sealed class AdminApiTests : IAsyncLifetime
{
    private TestServerHost _server = null!;

    public async Task InitializeAsync() => _server = await TestServerHost.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-token-wrong-token")]
    [InlineData("Basic dGVzdDp0ZXN0")]
    [InlineData("Bearer ")]
    public async Task Admin_WithoutTheRightToken_Is401(string? authorization)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/deliveries");
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        var response = await _server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Admin_WhenNoTokenIsConfigured_RefusesEveryCallAndSaysWhy()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Admin:Token"] = "" });

        var response = await server.Admin.GetAsync("/api/deliveries");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("FREESCOUTRULES_ADMIN_TOKEN", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deliveries_FilterByConversationOutcomeAndPage()
    {
        await _server.PostFixtureAsync("convo.created");
        await _server.PostFixtureAsync("convo.status.closed");
        await _server.PostFixtureAsync("customer.created");
        await _server.SettledDeliveriesAsync();

        var byConversation = await _server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries?conversationId=1187");
        var skipped = await _server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries?outcome=skipped");
        var page2 = await _server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries?pageSize=2&page=2");
        var future = await _server.Admin.GetFromJsonAsync<JsonElement>($"/api/deliveries?since={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"))}");
        var bad = await _server.Admin.GetAsync("/api/deliveries?outcome=exploded");

        Assert.Equal(2, byConversation.GetProperty("items").GetArrayLength());
        Assert.Equal("customer.created", Assert.Single(skipped.GetProperty("items").EnumerateArray()).GetProperty("event").GetString());
        Assert.Equal("convo.created", Assert.Single(page2.GetProperty("items").EnumerateArray()).GetProperty("event").GetString());
        Assert.Equal(0, future.GetProperty("items").GetArrayLength());
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Delivery_ShowsRulesFiredAndStatusChanges_AndUnknownIdIs404()
    {
        var answer = await (await _server.PostFixtureAsync("convo.status.closed")).Content.ReadFromJsonAsync<JsonElement>();
        await _server.SettledDeliveriesAsync();

        var delivery = await _server.Admin.GetFromJsonAsync<JsonElement>($"/api/deliveries/{answer.GetProperty("deliveryId").GetInt64()}");
        var missing = await _server.Admin.GetAsync("/api/deliveries/99999");

        Assert.Equal("done", delivery.GetProperty("outcome").GetString());
        Assert.Contains("status.first-seen-on-convo-status", delivery.GetProperty("rulesFired").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal("closed", Assert.Single(delivery.GetProperty("statusChanges").EnumerateArray()).GetProperty("to").GetString());
        Assert.False(delivery.TryGetProperty("body", out _));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Rerun_OfADoneDeliveryWithoutRuleFailures_Is409()
    {
        var answer = await (await _server.PostFixtureAsync("convo.status.closed")).Content.ReadFromJsonAsync<JsonElement>();
        await _server.SettledDeliveriesAsync();

        var response = await _server.Admin.PostAsync($"/api/deliveries/{answer.GetProperty("deliveryId").GetInt64()}/rerun", null);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
    }

    [Fact]
    public async Task Status_CountsOutcomesAndNamesTheRules()
    {
        await _server.PostFixtureAsync("convo.created");
        await _server.SettledDeliveriesAsync();

        var status = await _server.Admin.GetFromJsonAsync<JsonElement>("/api/status");

        Assert.Equal(1, status.GetProperty("deliveries").GetProperty("done").GetInt64());
        Assert.Equal(4, status.GetProperty("rules").GetProperty("names").GetArrayLength());
        // The release this instance runs, as the tool's --version says it (a rolling upgrade asks each instance).
        var version = typeof(FreeScoutRules.Host.Server.AdminApi).Assembly.GetName().Version!;
        Assert.StartsWith($"{version.Major}.{version.Minor}.{version.Build}+", status.GetProperty("version").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_ListsTheInstances_AndWhoHoldsEachNamedLease()
    {
        // Retention is on by default: its lease is taken by this instance, the only one.
        JsonElement status = default;
        await Eventually.UntilAsync("the retention lease to be held", async () =>
        {
            status = await _server.Admin.GetFromJsonAsync<JsonElement>("/api/status");
            var leases = status.GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("name").GetString()).ToList();
            return (leases.Contains("retention"), $"leases: {string.Join(", ", leases)}");
        });

        var self = Assert.Single(status.GetProperty("instances").EnumerateArray());
        Assert.True(self.GetProperty("self").GetBoolean());
        Assert.True(self.GetProperty("alive").GetBoolean());
        Assert.Equal($"{Environment.MachineName}:{Environment.ProcessId}", self.GetProperty("name").GetString());
        Assert.True(self.GetProperty("expiresAt").GetDateTimeOffset() > self.GetProperty("renewedAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, self.GetProperty("leftAt").ValueKind);
        var retention = Assert.Single(status.GetProperty("leases").EnumerateArray());
        Assert.Equal("retention", retention.GetProperty("name").GetString());
        Assert.Equal(self.GetProperty("id").GetInt64(), retention.GetProperty("instanceId").GetInt64());
        Assert.Equal(self.GetProperty("name").GetString(), retention.GetProperty("instanceName").GetString());
        Assert.True(retention.GetProperty("held").GetBoolean());
        Assert.True(retention.GetProperty("self").GetBoolean());
        Assert.True(retention.GetProperty("epoch").GetInt64() >= 1);
        Assert.True(retention.GetProperty("expiresAt").GetDateTimeOffset() > DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task StatusChanges_SayWhoMadeThem_AnAgentOrACustomer()
    {
        foreach (var name in new[] { "convo.created", "convo.status.closed", "convo.customer.reply.created.reopened" })
        {
            await _server.PostFixtureAsync(name);
        }

        var changes = (await _server.SettledDeliveriesAsync()).Reverse()
            .SelectMany(d => d.GetProperty("statusChanges").EnumerateArray()).ToList();

        var close = Assert.Single(changes, c => c.GetProperty("to").GetString() == "closed");
        Assert.Equal("user", close.GetProperty("by").GetProperty("kind").GetString());
        Assert.Equal(close.GetProperty("by").GetProperty("id").GetInt32(), close.GetProperty("byUserId").GetInt32());
        var reopen = Assert.Single(changes, c => c.GetProperty("from").GetString() == "closed");
        Assert.Equal("customer", reopen.GetProperty("by").GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, reopen.TryGetProperty("byUserId", out var byUser) ? byUser.ValueKind : JsonValueKind.Null);
    }
}
