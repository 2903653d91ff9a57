using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Host.Server;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// Everyday production conditions for the action runner (issue 20): one broken receiver holds back no other, and an
/// attempt whose record cannot be written is never sent again silently.
/// </summary>
[Collection(MetricsCollection.Name)] // timing-sensitive and reads /metrics: not beside the parallel classes
public sealed class ActionDestinationsTests : IAsyncLifetime
{
    private HttpReceiver _healthy = null!;
    private HttpReceiver _failing = null!;

    public async Task InitializeAsync()
    {
        _healthy = await HttpReceiver.StartAsync();
        _failing = await HttpReceiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _healthy.DisposeAsync();
        await _failing.DisposeAsync();
    }

    private static byte[] Closed(int conversationId)
    {
        var json = JsonNode.Parse(SignedDeliveries.Get("convo.status.closed").Body)!.AsObject();
        json["id"] = conversationId;
        json["number"] = conversationId;
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    /// <summary>A target that accepts connections and never answers; counts the connections it holds.</summary>
    private sealed class Silent : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<TcpClient> _held = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        public Silent()
        {
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public int Accepted
        {
            get
            {
                lock (_held)
                {
                    return _held.Count;
                }
            }
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    lock (_held)
                    {
                        _held.Add(client);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _accepting;
            _listener.Stop();
            lock (_held)
            {
                _held.ForEach(c => c.Dispose());
            }

            _stop.Dispose();
        }
    }

    [Fact]
    public async Task AHealthyTarget_GetsEveryIntentWithinTwoSeconds_WhileATargetOfTheSameActionAnswers500_AndAnotherNeverAnswers()
    {
        const int conversations = 80;
        _failing.Answer([.. Enumerable.Repeat(500, 1000)]);
        await using var silent = new Silent();
        // Each close calls all three, the broken ones first: with order per action (before issue 20) the healthy call
        // waited behind them, and one circuit breaker served every target of 'http'.
        var rule = $$"""
            public class ThreeHooks : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("http", new { url = "{{_failing.Address}}failing", body = new { number = change.Number } }))
                          .Do(ctx => ctx.Enqueue("http", new { url = "{{silent.Address}}silent", body = new { number = change.Number } }))
                          .Do(ctx => ctx.Enqueue("http", new { url = "{{_healthy.Address}}healthy", body = new { number = change.Number } }));
                }
            }
            """;
        var server = await TestServerHost.StartAsync(
            new()
            {
                ["Actions:PollInterval"] = "00:00:00.050",
                // The silent target holds its attempts for the whole test (no timeout frees its slots meanwhile).
                ["Actions:Timeout"] = "00:02:00",
                ["Actions:Resilience:AttemptTimeout:Timeout"] = "00:01:00",
                ["Actions:Resilience:TotalRequestTimeout:Timeout"] = "00:02:00",
                ["Actions:Resilience:CircuitBreaker:SamplingDuration"] = "00:02:00", // at least twice the attempt timeout
            },
            new Dictionary<string, string> { ["hooks.csx"] = rule });
        var stopped = false;
        try
        {
            await CallThreeTargetsAsync(server, silent, conversations);

            // Stopping cancels the attempts still waiting for the silent target (the HTTP pipeline would wait 30 s for them).
            var stopping = System.Diagnostics.Stopwatch.StartNew();
            stopped = true;
            await server.DisposeAsync();
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"the server took {stopping.Elapsed.TotalSeconds:F1} s to stop");
        }
        finally
        {
            if (!stopped)
            {
                await server.DisposeAsync();
            }
        }
    }

    private async Task CallThreeTargetsAsync(TestServerHost server, Silent silent, int conversations)
    {
        var posted = new Dictionary<int, DateTimeOffset>();
        for (var c = 1; c <= conversations; c++)
        {
            var body = Closed(c);
            Assert.Equal(HttpStatusCode.Accepted, (await server.PostAsync("convo.status", body, SignedDeliveries.Sign(body))).StatusCode);
            posted[c] = DateTimeOffset.UtcNow;
        }

        await Eventually.UntilAsync($"the healthy target to get all {conversations} calls", () => (
            Task.FromResult((_healthy.Requests.Count >= conversations, $"it got {_healthy.Requests.Count}; the failing one {_failing.Requests.Count}, the silent one holds {silent.Accepted} connections"))),
            TimeSpan.FromSeconds(30));

        var latencies = _healthy.Requests
            .Select(r => r.At - posted[JsonDocument.Parse(r.Body).RootElement.GetProperty("number").GetInt32()])
            .Order().ToList();
        Assert.Equal(Enumerable.Range(1, conversations), _healthy.Requests.Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("number").GetInt32()).Order());
        var p99 = latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1];
        Assert.True(p99 <= TimeSpan.FromSeconds(2), $"p99 {p99.TotalMilliseconds:F0} ms from delivery to the healthy target (median {latencies[latencies.Count / 2].TotalMilliseconds:F0} ms)");

        // The silent target holds its own share of the attempts in flight (4 of 16), never more.
        Assert.Equal(4, silent.Accepted);
        // The failing target's circuit opened (its own): later calls to it fail at once, the healthy ones went on.
        var failingDestination = $"http://127.0.0.1:{_failing.Address.Port}";
        List<JsonElement> failing = [];
        await Eventually.UntilAsync("every call to the failing target to have been tried", async () =>
        {
            failing = [.. (await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions?state=pending&limit=1000")).EnumerateArray()
                .Where(i => i.GetProperty("destination").GetString() == failingDestination)];
            return (failing.Count == conversations && failing.All(i => i.GetProperty("attempts").GetInt32() >= 1), $"{failing.Count(i => i.GetProperty("attempts").GetInt32() >= 1)} of {failing.Count} tried");
        });
        Assert.Contains(failing, i => i.GetProperty("lastError").GetString()!.Contains("BrokenCircuitException", StringComparison.Ordinal));
        Assert.All(failing, i => Assert.False(i.TryGetProperty("waitingFor", out var waiting) && waiting.ValueKind == JsonValueKind.Number));
    }

    [Fact]
    public void TheHttpAction_NamesTheUrlsOrigin_WithSecretReferencesUnresolved()
    {
        var set = PluginLoader.Load(PluginLoader.BuiltInDirectory);
        var http = set.Handlers["http"];

        Assert.Equal("https://hooks.example.com:443", http.Destination("""{"url":"https://Hooks.Example.com/x/y?token=abc","body":{"n":1}}"""));
        Assert.Equal("http://127.0.0.1:5000", http.Destination("""{"URL":"http://127.0.0.1:5000/a"}"""));
        Assert.Equal("https://example.com:443", http.Destination("""{"url":"https://user:password@example.com/"}""")); // never user info
        Assert.Equal("https://hooks.slack.com:443", http.Destination("""{"url":"https://hooks.slack.com/services/secret://SLACK_PATH"}"""));
        Assert.Equal("secret://SLACK_HOOK", http.Destination("""{"url":"secret://SLACK_HOOK"}"""));
        Assert.Equal("https://secret://HOOK_HOST", http.Destination("""{"url":"https://secret://HOOK_HOST/x"}"""));
        Assert.Null(http.Destination("""{"url":"not a url"}"""));
        Assert.Null(http.Destination("""{"url":"ftp://example.com/"}"""));
        Assert.Null(http.Destination("{}"));
        Assert.Null(http.Destination("not json"));
        Assert.Null(set.Handlers["freescout"].Destination("""{"operation":"note","conversationId":1,"text":"x"}"""));
    }

    [Fact]
    public void ResiliencePipelineKeys_OnePerAuthority_AndBoundedWhenRulesBuildManyUrls()
    {
        var keys = new ResiliencePipelineKeys(distinctAuthorities: 8, sharedBuckets: 4);

        Assert.Equal("https://a.example:443", keys.For(new Uri("https://user:pw@A.example/x?token=1")));
        Assert.Equal(keys.For(new Uri("https://a.example/other")), keys.For(new Uri("https://a.example:443/")));
        Assert.NotEqual(keys.For(new Uri("https://a.example/")), keys.For(new Uri("https://a.example:8443/")));
        Assert.NotEqual(keys.For(new Uri("https://a.example/")), keys.For(new Uri("http://a.example/")));

        var all = Enumerable.Range(0, 1000).Select(i => keys.For(new Uri($"https://customer{i}.example/hook"))).ToList();

        Assert.True(all.Distinct().Count() <= 8 + 4, $"{all.Distinct().Count()} keys for 1000 hosts");
        Assert.Equal(5, all.Take(5).Distinct().Count()); // the first ones seen (after the 3 above) have their own
        Assert.All(all.Skip(5), k => Assert.StartsWith("shared-", k, StringComparison.Ordinal));
        Assert.Equal(all[500], keys.For(new Uri("https://customer500.example/again"))); // stable
        Assert.Equal("https://a.example:443", keys.For(new Uri("https://a.example/")));
    }

    /// <summary>The outbox, with the record of attempts failing the first <paramref name="failures"/> times (disk full).</summary>
    private sealed class RecordsFailing(IOutbox inner, int failures) : IOutbox
    {
        private int _left = failures;

        public List<(DateTimeOffset At, bool Failed)> Writes { get; } = [];

        public Task<ClaimedIntents> ClaimDueAsync(InstanceLease holder, IntentSlots slots, IReadOnlySet<string> unordered, CancellationToken cancellationToken) =>
            inner.ClaimDueAsync(holder, slots, unordered, cancellationToken);

        public Task<bool> ReleaseAsync(IntentClaim claim, CancellationToken cancellationToken) => inner.ReleaseAsync(claim, cancellationToken);

        public Task<IReadOnlyList<IntentRecord>> ListAsync(long? deliveryId, string? state, int limit, CancellationToken cancellationToken) =>
            inner.ListAsync(deliveryId, state, limit, cancellationToken);

        public Task RecordAttemptAsync(AttemptCommit attempt, CancellationToken cancellationToken)
        {
            var fail = Interlocked.Decrement(ref _left) >= 0;
            lock (Writes)
            {
                Writes.Add((DateTimeOffset.UtcNow, fail));
            }

            return fail
                ? Task.FromException(new StorageException("The database could not be written: database or disk is full.", new IOException("No space left on device")))
                : inner.RecordAttemptAsync(attempt, cancellationToken);
        }

        public Task<bool> RetryDeadAsync(long intentId, DateTimeOffset now, CancellationToken cancellationToken) => inner.RetryDeadAsync(intentId, now, cancellationToken);

        public Task<OutboxStats> StatsAsync(CancellationToken cancellationToken) => inner.StatsAsync(cancellationToken);
    }

    [Fact]
    public async Task AnAttemptWhoseRecordCannotBeWritten_IsSentOnce_LoggedAndCounted_AndRecordedOnceTheStoreRecovers()
    {
        RecordsFailing outbox = null!;
        var rule = $$"""
            public class Hook : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("http", new { url = "{{_healthy.Address}}hook", body = new { number = change.Number } }));
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:00:00.050" },
            new Dictionary<string, string> { ["hook.csx"] = rule },
            configure: builder => builder.Services.AddSingleton<IOutbox>(sp => outbox = new RecordsFailing(sp.GetRequiredService<SqliteStorage>(), failures: 4)));

        await server.PostFixtureAsync("convo.status.closed");
        JsonElement done = default;
        await Eventually.UntilAsync("the intent to be done", async () =>
        {
            var intents = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions?state=done");
            done = intents.GetArrayLength() == 1 ? intents[0] : default;
            return (done.ValueKind == JsonValueKind.Object, $"saw {Describe.Intents(await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions"))}");
        });

        // One send, not one per poll while the store failed (polls every 50 ms; the record was written again with backoff).
        var request = Assert.Single(_healthy.Requests);
        Assert.Equal(done.GetProperty("idempotencyKey").GetString(), request.IdempotencyKey);
        List<(DateTimeOffset At, bool Failed)> writes;
        lock (outbox.Writes)
        {
            writes = [.. outbox.Writes];
        }

        Assert.Equal([true, true, true, true, false], writes.Select(w => w.Failed));
        Assert.True(writes[^1].At - writes[0].At >= TimeSpan.FromMilliseconds(100), $"recorded {(writes[^1].At - writes[0].At).TotalMilliseconds:F0} ms after the first failure");
        var attempt = Assert.Single(done.GetProperty("attemptLog").EnumerateArray());
        Assert.Equal(("done", 1), (attempt.GetProperty("outcome").GetString(), attempt.GetProperty("attempt").GetInt32()));

        var id = done.GetProperty("id").GetInt64();
        Assert.Single(server.Logs, l => l.StartsWith("Error", StringComparison.Ordinal)
            && l.Contains($"Action intent {id} (http, rule Hook, conversation 1187) attempt 1 ran (done) but its record could not be written; the intent is not sent again until it is", StringComparison.Ordinal)
            && l.Contains(request.IdempotencyKey!, StringComparison.Ordinal)
            && l.EndsWith("StorageException", StringComparison.Ordinal));
        // Logged just after the write that made the intent done: on a loaded machine, after the read above saw it.
        await Eventually.UntilAsync("the log to say the record is written", () =>
            server.Logs.Any(l => l.Contains($"The record of action intent {id}'s attempt 1 is written, at try 5", StringComparison.Ordinal)));
        await Eventually.UntilAsync("the metrics to count the unrecorded attempt and the failed writes", async () =>
        {
            var metrics = await server.Admin.GetStringAsync("/metrics");
            return (metrics.Contains("freescout_rules_actions_unrecorded_total{otel_scope_name=\"FreeScoutRules\"} 1", StringComparison.Ordinal)
                && metrics.Contains("freescout_rules_storage_failures_total{otel_scope_name=\"FreeScoutRules\",where=\"actions\"} 4", StringComparison.Ordinal)
                && metrics.Contains("freescout_rules_actions_attempts_total{otel_scope_name=\"FreeScoutRules\",action=\"http\",outcome=\"done\"} 1", StringComparison.Ordinal),
                string.Join(" | ", metrics.Split('\n').Where(l => l.StartsWith("freescout_rules_actions", StringComparison.Ordinal) || l.StartsWith("freescout_rules_storage_failures", StringComparison.Ordinal))));
        });
    }
}
