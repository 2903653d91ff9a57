using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>
/// The real <c>serve</c> process with the sample plugin (built by the solution, copied into a plugins
/// folder) calling a real HTTP receiver; killed with SIGKILL in the middle of an attempt.
/// </summary>
public sealed class ActionsEndToEndTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-e2e-actions-{Guid.NewGuid():N}");
    private HttpReceiver _receiver = null!;

    public async Task InitializeAsync()
    {
        _receiver = await HttpReceiver.StartAsync();
        SamplePlugin.DropInto(Path.Combine(_root, "plugins"));
        Directory.CreateDirectory(Path.Combine(_root, "rules"));
        await File.WriteAllTextAsync(Path.Combine(_root, "rules", "notify.csx"), $$"""
            public class NotifyOnClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("sample-notify", new { url = "{{_receiver.Address}}notify", text = $"#{change.Number} closed" }));
                }
            }
            """);
    }

    public async Task DisposeAsync()
    {
        await _receiver.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static readonly Dictionary<string, string> FastPolling = new() { ["Actions__PollInterval"] = "00:00:00.100" };

    /// <summary>Waits until <paramref name="server"/> lists an intent in <paramref name="state"/>; throws naming <paramref name="condition"/> and the intents seen last.</summary>
    private static async Task<JsonElement> IntentsInStateAsync(ServeProcess server, string state, string condition, TimeSpan timeout)
    {
        JsonElement intents = default;
        await Eventually.UntilAsync(condition, async () =>
        {
            intents = await server.Admin.GetFromJsonAsync<JsonElement>($"/api/actions?state={state}");
            return intents.GetArrayLength() > 0
                ? (true, "")
                : (false, $"saw {Describe.Intents(await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions"))}");
        }, timeout);
        return intents;
    }

    [Fact]
    public async Task KilledInTheMiddleOfAnAttempt_TheActionRunsAgainWithTheSameIdempotencyKey()
    {
        _receiver.Delay(TimeSpan.FromSeconds(30));
        var server = await ServeProcess.StartAsync(_root, FastPolling);
        var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");
        await server.PostAsync(eventName, body, signature);
        var started = DateTime.UtcNow;
        await Eventually.UntilAsync("the receiver to get the first attempt of the 'sample-notify' intent", async () =>
            _receiver.Requests.IsEmpty
                ? (false, $"no request yet; {Describe.Intents(await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions"))}")
                : (true, ""), TimeSpan.FromSeconds(30));

        Assert.Single(_receiver.Requests);
        server.Kill();
        await server.DisposeAsync();

        await using var restarted = await ServeProcess.StartAsync(_root, FastPolling);
        var intents = await IntentsInStateAsync(restarted, "done", "the intent interrupted by the kill to be done after the restart", started.AddSeconds(60) - DateTime.UtcNow);

        var intent = Assert.Single(intents.EnumerateArray());
        Assert.Equal(2, _receiver.Requests.Count);
        Assert.Single(_receiver.Requests.Select(r => r.IdempotencyKey).Distinct());
        var installation = (await restarted.Admin.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("installationId").GetString();
        Assert.Equal($"fsr-{installation}-{intent.GetProperty("id").GetInt64()}", _receiver.Requests.First().IdempotencyKey);
        Assert.Equal(intent.GetProperty("idempotencyKey").GetString(), _receiver.Requests.First().IdempotencyKey);
        Assert.Single(intent.GetProperty("attemptLog").EnumerateArray());
    }

    [Fact]
    public async Task DeadLetter_IsRetriedFromTheCommandLine()
    {
        _receiver.Answer(400);
        await using var server = await ServeProcess.StartAsync(_root, FastPolling);
        var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");
        await server.PostAsync(eventName, body, signature);
        var started = DateTime.UtcNow;
        var dead = await IntentsInStateAsync(server, "dead", "the intent answered 400 to be dead-lettered", TimeSpan.FromSeconds(30));
        var id = dead[0].GetProperty("id").GetInt64();

        var list = await CliProcess.RunAsync(null, "actions", "list", "--data-dir", Path.Combine(_root, "data"), "--state", "dead");
        // retry goes through the running server's admin API (only the server writes its database), found as serve's own setting says.
        var serverSettings = new Dictionary<string, string> { ["FREESCOUTRULES_URLS"] = server.Client.BaseAddress!.ToString(), ["FREESCOUTRULES_ADMIN_TOKEN"] = TestServerHost.AdminToken };
        var retry = await CliProcess.RunWithEnvironmentAsync(serverSettings, null, "actions", "retry", "--id", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var again = await CliProcess.RunWithEnvironmentAsync(serverSettings, null, "actions", "retry", "--id", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var done = await IntentsInStateAsync(server, "done", $"the dead intent {id} to be done after 'actions retry'", started.AddSeconds(60) - DateTime.UtcNow);

        Assert.Contains(list.OutputLines, l => l.StartsWith($"{id}  dead     sample-notify  rule NotifyOnClose", StringComparison.Ordinal));
        Assert.True(retry.ExitCode == 0, retry.Error);
        Assert.Contains($"server: {server.Client.BaseAddress} (from FREESCOUTRULES_URLS)", retry.Error, StringComparison.Ordinal);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("409", again.Error, StringComparison.Ordinal);
        Assert.Equal(id, Assert.Single(done.EnumerateArray()).GetProperty("id").GetInt64());
    }
}
