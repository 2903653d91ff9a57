using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// Secrets are configured by name and referenced from rules: the target receives the value, while the
/// database, the admin API, the log and <c>test</c> only ever see the reference.
/// </summary>
public sealed class SecretsTests : IAsyncLifetime
{
    private const string HeaderValue = "tok-3f9a7c1e5b2d4e6f";
    private const string PathValue = "path-8d1c2b3a4f5e6d7c";
    private HttpReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await HttpReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    private string Rules => $$"""
        public class CallHook : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then()
                    .Do(ctx => ctx.Enqueue("http", new
                    {
                        url = "{{_receiver.Address}}hook",
                        headers = new Dictionary<string, string> { { "Authorization", $"Bearer {Secret.Ref("hook_token")}" } },
                        body = new { number = change.Number },
                    }))
                    .Do(ctx => ctx.Enqueue("http", new { url = $"{{_receiver.Address}}refused/{Secret.Ref("path_token")}", body = new { n = 2 } }))
                    .Do(ctx => ctx.Enqueue("http", new { url = "{{_receiver.Address}}never", body = new { token = Secret.Ref("not_configured") } }));
            }
        }
        """;

    [Fact]
    public async Task ConfiguredSecret_ReachesTheTarget_ButNeverTheDatabaseTheAdminApiTheLogOrTest()
    {
        _receiver.Answer(200, 400);
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050", ["Secrets:hook_token"] = HeaderValue, ["Secrets:path_token"] = PathValue },
            new Dictionary<string, string> { ["hook.csx"] = Rules });

        await server.PostFixtureAsync("convo.status.closed");
        JsonElement intents = default;
        await Eventually.UntilAsync("the three intents to finish", async () =>
        {
            intents = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions");
            return (intents.GetArrayLength() == 3 && intents.EnumerateArray().All(i => i.GetProperty("state").GetString() != "pending"), Describe.Intents(intents));
        });

        var call = Assert.Single(_receiver.Calls, c => c.Path == "/hook");
        Assert.Equal($"Bearer {HeaderValue}", call.Headers["Authorization"]);
        Assert.Contains(_receiver.Calls, c => c.Path == $"/refused/{PathValue}");
        var byUrl = intents.EnumerateArray().ToDictionary(i => i.GetProperty("arguments").GetProperty("url").GetString()!);
        Assert.Equal("Bearer secret://hook_token", byUrl[$"{_receiver.Address}hook"].GetProperty("arguments").GetProperty("headers").GetProperty("Authorization").GetString());
        var refused = byUrl[$"{_receiver.Address}refused/secret://path_token"];
        Assert.Equal("dead", refused.GetProperty("state").GetString());
        Assert.Contains("refused/secret://path_token answered 400", refused.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        var unknown = byUrl[$"{_receiver.Address}never"];
        Assert.Equal("dead", unknown.GetProperty("state").GetString());
        Assert.StartsWith("Unknown secret 'not_configured': configure it as Secrets:not_configured", unknown.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_receiver.Calls, c => c.Path == "/never");

        var api = await server.Admin.GetStringAsync("/api/actions") + await server.Admin.GetStringAsync("/api/deliveries");
        Assert.DoesNotContain(HeaderValue, api, StringComparison.Ordinal);
        Assert.DoesNotContain(PathValue, api, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Logs, l => l.Contains(HeaderValue, StringComparison.Ordinal) || l.Contains(PathValue, StringComparison.Ordinal));
        // Every file but the lock the server holds (empty, and unreadable while held).
        foreach (var file in Directory.GetFiles(Path.Combine(server.Root, "data"), "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "freescout-rules.lock"))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.False(Contains(bytes, HeaderValue) || Contains(bytes, PathValue), $"{file} holds a secret's value");
        }

        Assert.Contains(server.Logs, l => l.Contains("warning FSR0007", StringComparison.Ordinal) && l.Contains("'not_configured'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Test_ShowsTheReference_NeverTheValue()
    {
        var rules = Path.Combine(Path.GetTempPath(), $"fsr-secrets-{Guid.NewGuid():N}");
        Directory.CreateDirectory(rules);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(rules, "hook.csx"), Rules);
            using var events = new JsonLinesFile();
            var file = events.Add("convo.status", "convo.status.closed").Save();

            var result = await CliProcess.RunWithEnvironmentAsync(
                new Dictionary<string, string> { ["Secrets__hook_token"] = HeaderValue, ["Secrets__path_token"] = PathValue },
                null, "test", "--rules", rules, "--events", file);

            Assert.Contains(result.OutputLines, l => l.Contains("Bearer secret://hook_token", StringComparison.Ordinal));
            Assert.DoesNotContain(HeaderValue, result.Output + result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain(PathValue, result.Output + result.Error, StringComparison.Ordinal);
            Assert.Contains("warning FSR0007: No secret 'not_configured' is configured", result.Error, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(rules, recursive: true);
        }
    }

    /// <summary>The documented pattern: a secret in a header, the customer's words in the body.</summary>
    private string DocumentedRule => $$"""
        [Name("notify-on-close")]
        public class NotifyOnClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                Delivery delivery = default!;
                When()
                    .Match(() => change, c => c.To == ConversationStatus.Closed)
                    .Match(() => delivery, d => d.ConversationId == change.ConversationId);
                Then().Do(ctx => ctx.Enqueue("http", new
                {
                    url = "{{_receiver.Address}}hook",
                    headers = new Dictionary<string, string> { { "Authorization", $"Bearer {Secret.Ref("demo")}" } },
                    body = new
                    {
                        text = $"Conversation #{change.Number} \"{delivery.Conversation.Subject}\" was closed.",
                        preview = delivery.Conversation.Preview,
                        customer = delivery.Conversation.Customer == null ? "" : delivery.Conversation.Customer.FirstName + " " + delivery.Conversation.Customer.LastName,
                        email = delivery.Conversation.Customer == null ? "" : delivery.Conversation.Customer.Email,
                        thread = delivery.LatestThread == null ? "" : delivery.LatestThread.Body,
                        fields = delivery.Conversation.CustomFields == null ? new List<string>() : delivery.Conversation.CustomFields.Select(f => f.Value).ToList(),
                    },
                }));
            }
        }
        """;

    [Theory]
    [InlineData("Please quote secret://demo in your reply")]
    [InlineData("Refund secret://nope")]
    [InlineData("SECRET://DEMO and Secret://demo")]
    [InlineData("secret%3A%2F%2Fdemo")]
    [InlineData("\uE000secret://demo\uE001")]
    public async Task CustomerText_ThatNamesASecret_NeverGetsItsValue_AndNeverKillsTheIntent(string hostile)
    {
        const string value = "demo-value-5e1f0c9a2b7d";
        _receiver.Answer(200);
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050", ["Secrets:demo"] = value },
            new Dictionary<string, string> { ["notify.csx"] = DocumentedRule });

        // Every customer-controlled field that the sample and the docs' examples use.
        var (eventName, fixture, _) = SignedDeliveries.Get("convo.status.closed");
        var body = System.Text.Json.Nodes.JsonNode.Parse(fixture)!.AsObject();
        body["subject"] = hostile;
        body["preview"] = hostile;
        body["customer"]!["firstName"] = hostile;
        body["customer"]!["lastName"] = hostile;
        body["_embedded"]!["threads"]![0]!["body"] = hostile;
        body["customFields"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["id"] = 1, ["name"] = "Order", ["value"] = hostile, ["text"] = hostile });
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await server.PostAsync(eventName, bytes, SignedDeliveries.Sign(bytes))).StatusCode);

        JsonElement intent = default;
        await Eventually.UntilAsync("the intent to finish", async () =>
        {
            var intents = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions");
            intent = intents.EnumerateArray().FirstOrDefault();
            return (intents.GetArrayLength() == 1 && intent.GetProperty("state").GetString() != "pending", Describe.Intents(intents));
        });

        Assert.Equal("done", intent.GetProperty("state").GetString());
        var call = Assert.Single(_receiver.Calls);
        Assert.Equal($"Bearer {value}", call.Headers["Authorization"]);
        Assert.DoesNotContain(value, call.Body, StringComparison.Ordinal);
        using var sent = JsonDocument.Parse(call.Body);
        Assert.Equal($"Conversation #1187 \"{hostile}\" was closed.", sent.RootElement.GetProperty("text").GetString());
        Assert.Equal(hostile, sent.RootElement.GetProperty("thread").GetString());
        Assert.Equal(hostile, sent.RootElement.GetProperty("fields")[0].GetString());
        // The record says where the rule put the secret: there only.
        var place = Assert.Single(intent.GetProperty("secrets").EnumerateArray());
        Assert.Equal("/headers/Authorization", place.GetProperty("path").GetString());
        Assert.Equal("demo", place.GetProperty("name").GetString());
    }

    private static bool Contains(byte[] haystack, string needle) =>
        haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0;
}
