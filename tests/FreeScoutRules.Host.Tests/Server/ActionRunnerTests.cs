using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>Intents committed with their delivery are executed by the sample plugin against a real HTTP receiver.</summary>
[Collection(MetricsCollection.Name)]
public sealed class ActionRunnerTests : IAsyncLifetime
{
    private HttpReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await HttpReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    private string NotifyOnClose(string path) => $$"""
        public class NotifyOnClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then().Do(ctx => ctx.Enqueue("sample-notify", new { url = "{{_receiver.Address}}{{path}}", text = $"#{change.Number} closed" }));
            }
        }
        """;

    private static async Task<JsonElement> WaitForIntentAsync(TestServerHost server, string state)
    {
        JsonElement intents = default;
        await Eventually.UntilAsync($"an intent in state '{state}'", async () =>
        {
            intents = await server.Admin.GetFromJsonAsync<JsonElement>($"/api/actions?state={state}");
            return intents.GetArrayLength() > 0
                ? (true, "")
                : (false, $"saw {Describe.Intents(await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions"))}");
        }, TimeSpan.FromSeconds(30));
        return intents[0];
    }

    private static async Task<string> InstallationIdAsync(TestServerHost server)
    {
        var id = (await server.Admin.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("installationId").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", id);
        return id;
    }

    [Fact]
    public async Task Intent_IsExecutedByThePlugin_WithItsIdempotencyKey_AndRecorded()
    {
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050" }, new Dictionary<string, string> { ["notify.csx"] = NotifyOnClose("slack") }, samplePlugin: true);

        await server.PostFixtureAsync("convo.status.closed");
        var intent = await WaitForIntentAsync(server, "done");

        var request = Assert.Single(_receiver.Requests);
        Assert.Equal("/slack", request.Path);
        Assert.Equal($"fsr-{await InstallationIdAsync(server)}-{intent.GetProperty("id").GetInt64()}", request.IdempotencyKey);
        Assert.Equal(intent.GetProperty("idempotencyKey").GetString(), request.IdempotencyKey);
        Assert.Equal("#1187 closed", JsonDocument.Parse(request.Body).RootElement.GetProperty("text").GetString());
        Assert.Equal("NotifyOnClose", intent.GetProperty("rule").GetString());
        var attempt = Assert.Single(intent.GetProperty("attemptLog").EnumerateArray());
        Assert.Equal("done", attempt.GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task BuiltInHttpAction_SendsJsonWithHeadersAndIdempotencyKey_ThroughTheResiliencePipeline()
    {
        _receiver.Answer(503);
        var rule = $$"""
            public class CallHook : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("http", new
                    {
                        url = "{{_receiver.Address}}hook?token=secret",
                        headers = new Dictionary<string, string> { { "X-Team", "support" } },
                        body = new { number = change.Number, to = change.To },
                    }));
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050" }, new Dictionary<string, string> { ["hook.csx"] = rule });

        await server.PostFixtureAsync("convo.status.closed");
        var intent = await WaitForIntentAsync(server, "done");

        Assert.Equal(2, _receiver.Requests.Count);
        var delivered = _receiver.Requests.Last();
        Assert.Equal("/hook", delivered.Path);
        Assert.Equal($"fsr-{await InstallationIdAsync(server)}-{intent.GetProperty("id").GetInt64()}", delivered.IdempotencyKey);
        Assert.Equal("""{"number":1187,"to":"closed"}""", delivered.Body);
        Assert.Single(intent.GetProperty("attemptLog").EnumerateArray());
    }

    [Fact]
    public async Task TargetAnswers400_IsDeadAtOnce_AndCanBeRetriedByHand()
    {
        _receiver.Answer(400);
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050" }, new Dictionary<string, string> { ["notify.csx"] = NotifyOnClose("bad") }, samplePlugin: true);

        await server.PostFixtureAsync("convo.status.closed");
        var dead = await WaitForIntentAsync(server, "dead");

        Assert.Equal(1, dead.GetProperty("attempts").GetInt32());
        Assert.Contains("/bad answered 400", dead.GetProperty("lastError").GetString(), StringComparison.Ordinal);

        var retry = await server.Admin.PostAsync($"/api/actions/{dead.GetProperty("id").GetInt64()}/retry", null);
        var done = await WaitForIntentAsync(server, "done");

        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(dead.GetProperty("id").GetInt64(), done.GetProperty("id").GetInt64());
        Assert.Equal(2, _receiver.Requests.Count);
        Assert.Single(_receiver.Requests.Select(r => r.IdempotencyKey).Distinct());
        Assert.Equal(2, done.GetProperty("attempts").GetInt32()); // numbered once per intent, across the manual retry
        Assert.Equal([1, 2], done.GetProperty("attemptLog").EnumerateArray().Select(a => a.GetProperty("attempt").GetInt32()));
        Assert.Equal(["failed", "done"], done.GetProperty("attemptLog").EnumerateArray().Select(a => a.GetProperty("outcome").GetString()));
    }

    [Fact]
    public async Task TwoIntentsOfOneConversation_RunInOrder_TheSecondWaitsWhileTheFirstRetries()
    {
        const string twoNotes = """
            public class TwoCalls : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then()
                        .Do(ctx => ctx.Enqueue("sample-notify", new { url = "RECEIVER/first", text = "close" }))
                        .Do(ctx => ctx.Enqueue("sample-notify", new { url = "RECEIVER/second", text = "note" }));
                }
            }
            """;
        _receiver.Answer(500, 500, 500, 500); // the resilience pipeline tries twice per attempt: the first intent fails two attempts
        await using var server = await TestServerHost.StartAsync(
            new()
            {
                ["Actions:PollInterval"] = "00:00:00.020", ["Actions:FirstRetryDelay"] = "00:00:00.100",
                ["Actions:Resilience:Retry:MaxRetryAttempts"] = "1", ["Actions:Resilience:Retry:Delay"] = "00:00:00.010",
            },
            new Dictionary<string, string> { ["two.csx"] = twoNotes.Replace("RECEIVER/", _receiver.Address.ToString(), StringComparison.Ordinal) },
            samplePlugin: true);

        await server.PostFixtureAsync("convo.status.closed");
        await Eventually.UntilAsync("the second intent to show it waits for the first", async () =>
        {
            var pending = (await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions?state=pending")).EnumerateArray().ToList();
            var second = pending.FirstOrDefault(i => i.GetProperty("arguments").GetProperty("url").GetString()!.EndsWith("/second", StringComparison.Ordinal));
            var first = pending.FirstOrDefault(i => i.GetProperty("arguments").GetProperty("url").GetString()!.EndsWith("/first", StringComparison.Ordinal));
            return (second.ValueKind == JsonValueKind.Object && first.ValueKind == JsonValueKind.Object
                && second.GetProperty("waitingFor") is { ValueKind: JsonValueKind.Number } waiting
                && waiting.GetInt64() == first.GetProperty("id").GetInt64(), $"pending: {pending.Count}");
        });
        await Eventually.UntilAsync("both intents to be done", async () =>
        {
            var done = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions?state=done");
            return (done.GetArrayLength() == 2, $"saw {Describe.Intents(await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions"))}");
        });

        Assert.Equal(["/first", "/first", "/first", "/first", "/first", "/second"], _receiver.Requests.Select(r => r.Path));
        var first = (await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions?state=done")).EnumerateArray().Single(i => i.GetProperty("arguments").GetProperty("url").GetString()!.EndsWith("/first", StringComparison.Ordinal));
        Assert.Equal(["retryable", "retryable", "done"], first.GetProperty("attemptLog").EnumerateArray().Select(a => a.GetProperty("outcome").GetString()));
    }

    [Fact]
    public async Task ScriptActionThatThrowsOrHangs_IsARetryableFailureRecordedWithTheReason()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fsr-faults-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        await File.WriteAllTextAsync(Path.Combine(root, "plugins", "faulty.csx"), """
            public sealed class Throws : IActionHandler
            {
                public string Name => "throws";
                public ValueTask<ActionResult> ExecuteAsync(ActionContext context) => throw new InvalidOperationException("kaboom");
            }

            public sealed class Hangs : IActionHandler
            {
                public string Name => "hangs";
                public async ValueTask<ActionResult> ExecuteAsync(ActionContext context)
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                    return ActionResult.Done();
                }
            }
            """);
        const string rule = """
            public class Both : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("throws")).Do(ctx => ctx.Enqueue("hangs"));
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new()
            {
                ["Actions:PollInterval"] = "00:00:00.050", ["Actions:Timeout"] = "00:00:00.300",
                ["Actions:FirstRetryDelay"] = "00:00:00.050", ["Actions:MaxAttempts"] = "2",
            },
            new Dictionary<string, string> { ["both.csx"] = rule }, root: root);

        await server.PostFixtureAsync("convo.status.closed");
        JsonElement dead = default;
        await Eventually.UntilAsync("both intents ('throws' and 'hangs') to be dead", async () =>
        {
            dead = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions?state=dead");
            return dead.GetArrayLength() >= 2
                ? (true, "")
                : (false, $"saw {Describe.Intents(await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions"))}");
        }, TimeSpan.FromSeconds(30));

        var byAction = dead.EnumerateArray().ToDictionary(i => i.GetProperty("action").GetString()!);
        Assert.Equal("The plugin threw InvalidOperationException: kaboom", byAction["throws"].GetProperty("lastError").GetString());
        Assert.Equal("Timed out after 0.3 s.", byAction["hangs"].GetProperty("lastError").GetString());
        Assert.All(byAction.Values, i => Assert.Equal(2, i.GetProperty("attemptLog").GetArrayLength()));
        Assert.All(byAction["hangs"].GetProperty("attemptLog").EnumerateArray(), a => Assert.True(a.GetProperty("durationMs").GetDouble() >= 250));

        // Visible where ops look: a warning per failed attempt, an error per dead letter, both in /metrics.
        var id = byAction["throws"].GetProperty("id").GetInt64();
        Assert.Contains(server.Logs, l => l.StartsWith("Warning", StringComparison.Ordinal)
            && l.Contains($"Action intent {id} (throws, rule Both, conversation 1187) attempt 1 failed: The plugin threw InvalidOperationException: kaboom; next attempt at", StringComparison.Ordinal));
        Assert.Contains(server.Logs, l => l.StartsWith("Error", StringComparison.Ordinal)
            && l.Contains($"Action intent {id} (throws, rule Both, conversation 1187) is dead after attempt 2: The plugin threw InvalidOperationException: kaboom", StringComparison.Ordinal));
        await Eventually.UntilAsync("the metrics to show the dead letters", async () =>
        {
            var metrics = await server.Admin.GetStringAsync("/metrics");
            return (metrics.Contains("freescout_rules_actions_dead{otel_scope_name=\"FreeScoutRules\"} 2", StringComparison.Ordinal)
                && metrics.Contains("freescout_rules_actions_attempts_total{otel_scope_name=\"FreeScoutRules\",action=\"throws\",outcome=\"dead\"} 1", StringComparison.Ordinal)
                && metrics.Contains("freescout_rules_actions_attempts_total{otel_scope_name=\"FreeScoutRules\",action=\"throws\",outcome=\"retryable\"} 1", StringComparison.Ordinal),
                string.Join(" | ", metrics.Split('\n').Where(l => l.StartsWith("freescout_rules_actions", StringComparison.Ordinal))));
        });
    }

    [Fact]
    public async Task PluginDroppedInOrRemoved_TakesEffectWithoutARestart()
    {
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050", ["Actions:FirstRetryDelay"] = "00:00:00.200" },
            new Dictionary<string, string> { ["notify.csx"] = NotifyOnClose("late") });
        var plugins = Path.Combine(server.Root, "plugins");

        await server.PostFixtureAsync("convo.status.closed");
        var before = await server.Admin.GetFromJsonAsync<JsonElement>("/api/plugins");
        SamplePlugin.DropInto(plugins);
        var done = await WaitForIntentAsync(server, "done");
        Directory.Delete(Path.Combine(plugins, "FreeScoutRules.Plugins.Sample"), recursive: true);
        JsonElement after = default;
        await Eventually.UntilAsync("the action 'sample-notify' to leave /api/plugins once its plugin folder is deleted", async () =>
        {
            after = await server.Admin.GetFromJsonAsync<JsonElement>("/api/plugins");
            var actions = after.GetProperty("actions").EnumerateArray().Select(a => a.GetString()).ToList();
            return (!actions.Contains("sample-notify"), $"actions still: {string.Join(", ", actions)}");
        }, TimeSpan.FromSeconds(20));

        Assert.DoesNotContain(before.GetProperty("actions").EnumerateArray(), a => a.GetString() == "sample-notify");
        Assert.Contains("No plugin provides the action 'sample-notify'.", done.GetProperty("attemptLog")[0].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("done", done.GetProperty("attemptLog").EnumerateArray().Last().GetProperty("outcome").GetString());
        Assert.Single(_receiver.Requests);
        Assert.Equal(["freescout", "http"], after.GetProperty("actions").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public async Task ActionContext_CarriesTheConversationOfTheDelivery()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fsr-context-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(root, "plugins"));
        await File.WriteAllTextAsync(Path.Combine(root, "plugins", "subject.csx"), """
            public sealed class SubjectCheck : IActionHandler
            {
                public string Name => "subject-check";
                public ValueTask<ActionResult> ExecuteAsync(ActionContext context) => ValueTask.FromResult(
                    context.Conversation is { Number: 1187, Subject: var subject } && subject.StartsWith("Invoice", StringComparison.Ordinal)
                        ? ActionResult.Done()
                        : ActionResult.Fail($"conversation: {context.Conversation?.Number.ToString() ?? "none"}"));
            }
            """);
        const string rule = """
            public class Check : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("subject-check"));
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050" }, new Dictionary<string, string> { ["check.csx"] = rule }, root: root);

        await server.PostFixtureAsync("convo.status.closed");

        Assert.Equal("done", (await WaitForIntentAsync(server, "done")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task TargetDown_IsARetryableFailure_ThenDead_AndTargetAnswering429_IsRetriedAfterItsRetryAfter()
    {
        _receiver.Answer(429);
        var closedPort = new Uri($"http://127.0.0.1:{FreePort()}/");
        var rule = $$"""
            public class TwoCalls : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("http", new { url = "{{closedPort}}down" }))
                          .Do(ctx => ctx.Enqueue("http", new { url = "{{_receiver.Address}}busy" }));
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new()
            {
                ["Actions:PollInterval"] = "00:00:00.050", ["Actions:FirstRetryDelay"] = "00:00:00.100", ["Actions:MaxAttempts"] = "2",
                ["Actions:Resilience:Retry:MaxRetryAttempts"] = "1", ["Actions:Resilience:Retry:Delay"] = "00:00:00.010",
            },
            new Dictionary<string, string> { ["calls.csx"] = rule });

        await server.PostFixtureAsync("convo.status.closed");
        var dead = await WaitForIntentAsync(server, "dead");
        var done = await WaitForIntentAsync(server, "done");

        Assert.Contains("/down failed", dead.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        // The cause in words and the socket's own, not just "An error occurred while sending the request."
        Assert.Contains("down failed: no connection: Connection refused", dead.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, dead.GetProperty("attemptLog").GetArrayLength());
        var busy = _receiver.Requests.Where(r => r.Path == "/busy").ToList();
        Assert.Equal(2, busy.Count);
        Assert.True(busy[1].At - busy[0].At >= TimeSpan.FromSeconds(0.9), $"retried after {(busy[1].At - busy[0].At).TotalMilliseconds} ms despite Retry-After: 1");
        Assert.Single(done.GetProperty("attemptLog").EnumerateArray());
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task ActionNoPluginProvides_IsRetriedNotLost()
    {
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050", ["Actions:FirstRetryDelay"] = "00:00:00.100", ["Actions:MaxAttempts"] = "2" },
            new Dictionary<string, string> { ["notify.csx"] = NotifyOnClose("x") }, samplePlugin: false);

        await server.PostFixtureAsync("convo.status.closed");
        var dead = await WaitForIntentAsync(server, "dead");

        Assert.Equal(2, dead.GetProperty("attempts").GetInt32());
        Assert.Equal("No plugin provides the action 'sample-notify'.", dead.GetProperty("lastError").GetString());
        Assert.Empty(_receiver.Requests);
    }
}
