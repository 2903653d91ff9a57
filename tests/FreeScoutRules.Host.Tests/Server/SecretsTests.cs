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
        foreach (var file in Directory.GetFiles(Path.Combine(server.Root, "data"), "*", SearchOption.AllDirectories))
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

    private static bool Contains(byte[] haystack, string needle) =>
        haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0;
}
