using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// The built-in <c>freescout</c> action against a real HTTP server standing in for FreeScout's REST API (a receiver of
/// its writes; reconciliation, which would read from it, is off: Reconciliation/ReconciliationTests covers it).
/// </summary>
public sealed class FreeScoutActionTests : IAsyncLifetime
{
    private HttpReceiver _freescout = null!;

    public async Task InitializeAsync() => _freescout = await HttpReceiver.StartAsync();

    public async Task DisposeAsync() => await _freescout.DisposeAsync();

    /// <summary>
    /// The server with the FreeScout connection pointing at the receiver, in configuration (never in this process's
    /// environment, which every server that tests start at the same time would read).
    /// </summary>
    private Task<TestServerHost> StartServerAsync(string rules) => TestServerHost.StartAsync(
        new()
        {
            ["Actions:PollInterval"] = "00:00:00.050",
            ["FreeScout:Url"] = _freescout.Address.ToString(),
            ["FreeScout:ApiKey"] = "test-api-key",
            ["FreeScout:BotUserId"] = "5",
            ["Reconciliation:Interval"] = "00:00:00",
        },
        new Dictionary<string, string> { ["close.csx"] = rules });

    private static string OnClose(string arguments) => $$"""
        public class OnClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then().Do(ctx => ctx.Enqueue("freescout", {{arguments}}));
            }
        }
        """;

    private static async Task<JsonElement> SettledIntentAsync(TestServerHost server)
    {
        JsonElement intents = default;
        await Eventually.UntilAsync("an intent of conversation 1187 to leave 'pending'", async () =>
        {
            intents = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions");
            return (intents.GetArrayLength() > 0 && intents[0].GetProperty("state").GetString() != "pending", $"saw {Describe.Intents(intents)}");
        }, TimeSpan.FromSeconds(30));
        return intents[0];
    }

    [Fact]
    public async Task Note_IsPostedAsTheBotWithTheApiKey()
    {
        await using var server = await StartServerAsync(OnClose("new { operation = \"note\", conversationId = change.ConversationId, text = \"Closed; survey sent.\" }"));

        await server.PostFixtureAsync("convo.status.closed");
        var intent = await SettledIntentAsync(server);

        Assert.Equal("done", intent.GetProperty("state").GetString());
        var call = Assert.Single(_freescout.Calls);
        Assert.Equal("POST", call.Method);
        Assert.Equal("/api/conversations/1187/threads", call.Path);
        Assert.Equal("test-api-key", call.Headers["X-FreeScout-API-Key"]);
        // With its length, not chunked: FreeScout is PHP behind a web server, some of which refuse or empty a chunked body.
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(call.Body).ToString(System.Globalization.CultureInfo.InvariantCulture), call.Headers.GetValueOrDefault("Content-Length"));
        Assert.False(call.Headers.ContainsKey("Transfer-Encoding"));
        var body = JsonDocument.Parse(call.Body).RootElement;
        Assert.Equal("note", body.GetProperty("type").GetString());
        Assert.Equal(5, body.GetProperty("user").GetInt32());
        Assert.Equal("Closed; survey sent.", body.GetProperty("text").GetString());
    }

    [Fact]
    public async Task ReplyAssignTagsAndCustomFields_GoToTheirEndpointsAsTheBot()
    {
        const string arguments = "new { operation = \"reply\", conversationId = change.ConversationId, text = \"Thanks!\", status = \"closed\" })).Do(ctx => ctx.Enqueue(\"freescout\", new { operation = \"assign\", conversationId = change.ConversationId, userId = 2 })).Do(ctx => ctx.Enqueue(\"freescout\", new { operation = \"tags\", conversationId = change.ConversationId, tags = new[] { \"refund\", \"vip\" } })).Do(ctx => ctx.Enqueue(\"freescout\", new { operation = \"custom-fields\", conversationId = change.ConversationId, customFields = new Dictionary<string, string> { { \"37\", \"A-1\" } } }";
        await using var server = await StartServerAsync(OnClose(arguments));

        await server.PostFixtureAsync("convo.status.closed");
        await Eventually.UntilAsync("four calls to the stand-in FreeScout API (reply, assign, tags, custom fields)", async () =>
            _freescout.Calls.Count >= 4
                ? (true, "")
                : (false, $"saw {_freescout.Calls.Count} call(s) [{string.Join(", ", _freescout.Calls.Select(c => $"{c.Method} {c.Path}"))}] and "
                    + Describe.Intents(await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions"))), TimeSpan.FromSeconds(30));

        var calls = _freescout.Calls.ToDictionary(c => $"{c.Method} {c.Path}", c => JsonDocument.Parse(c.Body).RootElement);
        Assert.Equal("message", calls["POST /api/conversations/1187/threads"].GetProperty("type").GetString());
        Assert.Equal(5, calls["POST /api/conversations/1187/threads"].GetProperty("user").GetInt32());
        Assert.Equal(5, calls["PUT /api/conversations/1187"].GetProperty("byUser").GetInt32());
        Assert.Equal(2, calls["PUT /api/conversations/1187"].GetProperty("assignTo").GetInt32());
        Assert.Equal(["refund", "vip"], calls["PUT /api/conversations/1187/tags"].GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        var field = Assert.Single(calls["PUT /api/conversations/1187/custom_fields"].GetProperty("customFields").EnumerateArray());
        Assert.Equal(37, field.GetProperty("id").GetInt32());
        Assert.Equal("A-1", field.GetProperty("value").GetString());
    }

    [Fact]
    public async Task UnknownStatus_IsRefusedBeforeSending_InsteadOfBecomingActive()
    {
        await using var server = await StartServerAsync(OnClose("new { operation = \"status\", conversationId = change.ConversationId, status = \"solved\" }"));

        await server.PostFixtureAsync("convo.status.closed");
        var intent = await SettledIntentAsync(server);

        Assert.Equal("dead", intent.GetProperty("state").GetString());
        Assert.Contains("status 'solved' is not one of active, pending, closed, spam (FreeScout would silently make it active)",
            intent.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Empty(_freescout.Calls);
    }
}
