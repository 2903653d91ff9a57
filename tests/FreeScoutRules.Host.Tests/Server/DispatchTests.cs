using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>The dispatcher through the server: order per conversation, failing rules, parking and replay, restart.</summary>
[Collection(MetricsCollection.Name)]
public sealed class DispatchTests
{
    private const string FailsOnConversation7 = """
        public class FailsOnSeven : Rule
        {
            public override void Define()
            {
                Delivery delivery = default!;
                When().Match(() => delivery, d => d.ConversationId == 7);
                Then().Do(ctx => Explode(delivery));
            }

            private static void Explode(Delivery d) => throw new InvalidOperationException($"cannot handle {d.ConversationId}");
        }
        """;

    /// <summary>A conversation body with the given id, status and second.</summary>
    private static byte[] Body(int conversationId, string status, int second)
    {
        var json = JsonNode.Parse(SignedDeliveries.Get("convo.status.closed").Body)!.AsObject();
        json["id"] = conversationId;
        json["number"] = conversationId;
        json["status"] = status;
        json["updatedAt"] = $"2025-06-02T10:00:{second:00}Z";
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    /// <summary>The built-in status rules, with the recording of the known state made to throw for conversation <paramref name="conversationId"/>.</summary>
    private static Dictionary<string, string> StatusRulesFailingOn(string condition) => new()
    {
        ["status-change.csx"] = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "rules", "status-change.csx")).Replace(
            "            .Match(() => delivery)\n            .Not<PriorState>(p => p.ConversationId == delivery.ConversationId && delivery.IsStaleAgainst(p));",
            $"            .Match(() => delivery, d => !({condition}) || d.Conversation.Subject.Length / (d.Conversation.Subject.Length - d.Conversation.Subject.Length) > 0)\n            .Not<PriorState>(p => p.ConversationId == delivery.ConversationId && delivery.IsStaleAgainst(p));",
            StringComparison.Ordinal),
    };

    [Fact]
    public async Task FailingOpsRule_FailsAlone_TheDeliveryCommitsWithItsStatusChangeAndTheFailureIsVisible()
    {
        await using var server = await TestServerHost.StartAsync(extraRules: new Dictionary<string, string> { ["fails.csx"] = FailsOnConversation7 });
        var bad = Body(7, "closed", 1);
        var good = Body(8, "closed", 1);

        var badAnswer = await (await server.PostAsync("convo.status", bad, SignedDeliveries.Sign(bad))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Accepted, (await server.PostAsync("convo.status", good, SignedDeliveries.Sign(good))).StatusCode);
        var deliveries = await server.SettledDeliveriesAsync();

        var failed = Assert.Single(deliveries, d => d.GetProperty("conversationId").GetInt32() == 7);
        Assert.Equal("done", failed.GetProperty("outcome").GetString());
        Assert.Equal(1, failed.GetProperty("attempts").GetInt32());
        Assert.Equal("closed", Assert.Single(failed.GetProperty("statusChanges").EnumerateArray()).GetProperty("to").GetString());
        var failure = Assert.Single(failed.GetProperty("ruleFailures").EnumerateArray());
        Assert.Equal("FailsOnSeven", failure.GetProperty("rule").GetString());
        Assert.EndsWith("fails.csx(1,14)", failure.GetProperty("location").GetString(), StringComparison.Ordinal);
        Assert.Contains("FailsOnSeven.Explode", failure.GetProperty("where").GetString(), StringComparison.Ordinal);
        Assert.Equal("InvalidOperationException: cannot handle 7", failure.GetProperty("message").GetString());
        Assert.Equal("done", Assert.Single(deliveries, d => d.GetProperty("conversationId").GetInt32() == 8).GetProperty("outcome").GetString());
        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains("freescout_rules_rules_failures_total{otel_scope_name=\"FreeScoutRules\",rule=\"FailsOnSeven\"} 1", metrics, StringComparison.Ordinal);
        Assert.Matches("freescout_rules_storage_commits_total\\{[^}]*\\} [1-9]", metrics);
        Assert.Matches("freescout_rules_storage_committed_operations_total\\{[^}]*\\} [1-9]", metrics);
        Assert.Matches("dotnet_gc_heap_total_allocated_bytes_total\\{[^}]*\\} [1-9]", metrics); // .NET's own meter
        Assert.Contains(server.Logs, l => l.Contains("Rule FailsOnSeven", StringComparison.Ordinal) && l.Contains("cannot handle 7", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz")).StatusCode);

        // A re-run of a done delivery runs only the rules that failed on it; here it fails again, alone.
        var rerun = await server.Admin.PostAsync($"/api/deliveries/{badAnswer.GetProperty("deliveryId").GetInt64()}/rerun", null);
        Assert.Equal(HttpStatusCode.Accepted, rerun.StatusCode);
        var again = Assert.Single(await server.SettledDeliveriesAsync("&conversationId=7"));
        Assert.Equal("done", again.GetProperty("outcome").GetString());
        Assert.Single(again.GetProperty("ruleFailures").EnumerateArray());
        Assert.Equal("closed", Assert.Single(again.GetProperty("statusChanges").EnumerateArray()).GetProperty("to").GetString());
    }

    /// <summary>Waits until the server runs a generation other than <paramref name="generation"/>.</summary>
    private static Task WaitForReloadAsync(TestServerHost server, string generation) =>
        Eventually.UntilAsync("the changed rules to be loaded", async () =>
        {
            var rules = await server.Admin.GetFromJsonAsync<JsonElement>("/api/rules");
            return (rules.GetProperty("generation").GetString() != generation, $"generation {generation[..12]} still runs");
        });

    private static async Task<string> GenerationAsync(TestServerHost server) =>
        (await server.Admin.GetFromJsonAsync<JsonElement>("/api/rules")).GetProperty("generation").GetString()!;

    [Fact]
    public async Task FixedRule_Rerun_SeesTheStatusChangeOfTheFirstRun_AndQueuesOnlyItsIntent()
    {
        const string flaky = """
            public class NotifyOnClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    Delivery delivery = default!;
                    When().Match(() => change, c => c.IsClose).Match(() => delivery, d => int.Parse(d.Conversation.Subject) > 0 || true);
                    Then().Do(ctx => ctx.Enqueue("nowhere", new { number = change.Number }));
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new() { ["Actions:PollInterval"] = "00:01:00" },
            new Dictionary<string, string> { ["notify.csx"] = flaky, ["other.csx"] = FailsOnConversation7.Replace("FailsOnSeven", "AlsoOnClose", StringComparison.Ordinal).Replace("d => d.ConversationId == 7", "d => d.Status == \"closed\"", StringComparison.Ordinal).Replace("Then().Do(ctx => Explode(delivery));", "Then().Do(ctx => ctx.Enqueue(\"nowhere\", new { other = 1 }));", StringComparison.Ordinal) });
        foreach (var (status, second) in new[] { ("active", 1), ("closed", 2) })
        {
            var body = Body(5, status, second);
            await server.PostAsync("convo.status", body, SignedDeliveries.Sign(body));
        }

        var close = (await server.SettledDeliveriesAsync()).First();
        Assert.Equal("NotifyOnClose", Assert.Single(close.GetProperty("ruleFailures").EnumerateArray()).GetProperty("rule").GetString());
        Assert.Equal("AlsoOnClose", Assert.Single(close.GetProperty("actionIntents").EnumerateArray()).GetProperty("rule").GetString());
        Assert.Equal(2, (await server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries?ruleFailed=true")).GetProperty("items").GetArrayLength());

        var generation = await GenerationAsync(server);
        await File.WriteAllTextAsync(Path.Combine(server.Root, "rules", "notify.csx"), flaky.Replace("int.Parse(d.Conversation.Subject) > 0 || true", "d.ConversationId == change.ConversationId", StringComparison.Ordinal));
        await WaitForReloadAsync(server, generation);
        var rerun = await server.Admin.PostAsync("/api/deliveries/rerun?ruleFailed=true", null);
        Assert.Equal(2, (await rerun.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("requeued").GetInt32());
        var again = (await server.SettledDeliveriesAsync()).First();

        Assert.Equal("done", again.GetProperty("outcome").GetString());
        Assert.False(again.TryGetProperty("ruleFailures", out var failures) && failures.GetArrayLength() > 0);
        Assert.Equal("active->closed", string.Join(",", again.GetProperty("statusChanges").EnumerateArray().Select(c => $"{c.GetProperty("from").GetString()}->{c.GetProperty("to").GetString()}")));
        Assert.Equal(["AlsoOnClose", "NotifyOnClose"], again.GetProperty("actionIntents").EnumerateArray().Select(i => i.GetProperty("rule").GetString()).Order(StringComparer.Ordinal));
        var intents = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions");
        Assert.Equal(["AlsoOnClose", "NotifyOnClose"], intents.EnumerateArray().Select(i => i.GetProperty("rule").GetString()).Order(StringComparer.Ordinal));
        Assert.Empty((await server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries?ruleFailed=true")).GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task ParkedClose_RerunAfterALaterDelivery_CommitsTheClose_WithoutMovingTheStateBack()
    {
        await using var server = await TestServerHost.StartAsync(extraRules: StatusRulesFailingOn("d.Status == \"closed\""));
        foreach (var (status, second) in new[] { ("active", 1), ("closed", 2), ("pending", 3) })
        {
            var body = Body(6, status, second);
            await server.PostAsync("convo.status", body, SignedDeliveries.Sign(body));
        }

        var parked = Assert.Single(await server.SettledDeliveriesAsync(), d => d.GetProperty("outcome").GetString() == "parked");
        var generation = await GenerationAsync(server);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules", "status-change.csx"), Path.Combine(server.Root, "rules", "status-change.csx"), overwrite: true);
        await WaitForReloadAsync(server, generation);
        Assert.Equal(HttpStatusCode.Accepted, (await server.Admin.PostAsync($"/api/deliveries/{parked.GetProperty("id").GetInt64()}/rerun", null)).StatusCode);
        await server.SettledDeliveriesAsync();
        var later = Body(6, "closed", 4);
        await server.PostAsync("convo.status", later, SignedDeliveries.Sign(later));
        var deliveries = (await server.SettledDeliveriesAsync()).Reverse().ToArray();

        string Changes(JsonElement d) => string.Join(",", d.GetProperty("statusChanges").EnumerateArray().Select(c => $"{c.GetProperty("from").GetString()}->{c.GetProperty("to").GetString()}"));
        // The pending delivery was evaluated while the close was parked (active -> pending); the re-run
        // commits the close as it happened, and the state stays the newer pending, as the last close shows.
        Assert.Equal(["->active", "active->closed", "active->pending", "pending->closed"], deliveries.Select(Changes));
        Assert.All(deliveries, d => Assert.Equal("done", d.GetProperty("outcome").GetString()));
    }

    [Fact]
    public async Task FailingStatusRules_AreRetriedThenParked_WithoutHoldingUpOtherConversations_AndCanBeRerun()
    {
        await using var server = await TestServerHost.StartAsync(extraRules: StatusRulesFailingOn("d.ConversationId == 7"));
        var bad = Body(7, "closed", 1);
        var good = Body(8, "closed", 1);

        var badAnswer = await (await server.PostAsync("convo.status", bad, SignedDeliveries.Sign(bad))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Accepted, (await server.PostAsync("convo.status", good, SignedDeliveries.Sign(good))).StatusCode);
        var deliveries = await server.SettledDeliveriesAsync();

        var parked = Assert.Single(deliveries, d => d.GetProperty("conversationId").GetInt32() == 7);
        Assert.Equal("parked", parked.GetProperty("outcome").GetString());
        Assert.Equal(3, parked.GetProperty("attempts").GetInt32());
        Assert.Contains("rule 'status.record-known-state'", parked.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("DivideByZeroException", parked.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Empty(parked.GetProperty("statusChanges").EnumerateArray());
        Assert.Equal("done", Assert.Single(deliveries, d => d.GetProperty("conversationId").GetInt32() == 8).GetProperty("outcome").GetString());

        var rerun = await server.Admin.PostAsync($"/api/deliveries/{badAnswer.GetProperty("deliveryId").GetInt64()}/rerun", null);
        Assert.Equal(HttpStatusCode.Accepted, rerun.StatusCode);
        var again = Assert.Single(await server.SettledDeliveriesAsync("&conversationId=7"));
        Assert.Equal("parked", again.GetProperty("outcome").GetString());
        Assert.Equal(3, again.GetProperty("attempts").GetInt32());
        var all = await server.Admin.PostAsync("/api/deliveries/rerun?outcome=parked", null);
        Assert.Equal(1, (await all.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("requeued").GetInt32());
    }

    [Fact]
    public async Task RuleConditionThatNeverReturns_IsNamedByTheWatchdog_ItsDeliveryParked_AndItsConversationGoesOn()
    {
        const string hangs = """
            public class HangsOnEleven : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery, d => Wait(d));
                    Then().Do(ctx => ctx.Enqueue("x"));
                }

                private static bool Wait(Delivery d)
                {
                    if (d.ConversationId == 11)
                    {
                        System.Threading.Thread.Sleep(System.Threading.Timeout.Infinite);
                    }

                    return false;
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new() { ["Dispatch:RuleTimeout"] = "00:00:00.300", ["Dispatch:Workers"] = "2", ["Rules:Severity:FSR0004"] = "none" },
            new Dictionary<string, string> { ["hangs.csx"] = hangs });
        var stuck = Body(11, "closed", 1);
        var fine = Body(12, "closed", 1);

        var stuckId = (await (await server.PostAsync("convo.status", stuck, SignedDeliveries.Sign(stuck))).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("deliveryId").GetInt64();
        await server.PostAsync("convo.status", fine, SignedDeliveries.Sign(fine));
        HttpResponseMessage ready = null!;
        await Eventually.UntilAsync("/readyz to report the stuck evaluation", async () =>
        {
            ready = await server.Admin.GetAsync("/readyz");
            return (!ready.IsSuccessStatusCode, $"it answered {(int)ready.StatusCode}");
        });
        // The other conversation is not held up by the stuck evaluation (its delivery may take a moment more: the rule that
        // sleeps holds a thread of the pool, and on a small machine the pool adds one only after a while).
        await Eventually.UntilAsync("conversation 12's delivery to be done while 11's evaluation is stuck", async () =>
            (await server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries?conversationId=12")).GetProperty("items")[0].GetProperty("outcome").GetString() == "done",
            TimeSpan.FromSeconds(5));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var description = await ready.Content.ReadAsStringAsync();
        Assert.Contains($"delivery {stuckId} (convo.status) of conversation 11 has been in rule 'HangsOnEleven'", description, StringComparison.Ordinal);

        // The stuck delivery is parked, saying why, and its conversation goes on: the next one is not held behind it
        // (it runs into the same rule, and is parked the same way, rather than waiting forever).
        JsonElement parked = default;
        await Eventually.UntilAsync("the stuck delivery to be parked", async () =>
        {
            parked = await server.Admin.GetFromJsonAsync<JsonElement>($"/api/deliveries/{stuckId}");
            return (parked.GetProperty("outcome").GetString() == "parked", $"it is {parked.GetProperty("outcome").GetString()}");
        });
        var error = parked.GetProperty("error").GetString();
        Assert.Contains("The evaluation was abandoned", error, StringComparison.Ordinal);
        Assert.Contains("'HangsOnEleven'", error, StringComparison.Ordinal);
        Assert.Contains("Dispatch:RuleTimeout (0.3 s)", error, StringComparison.Ordinal);
        var next = Body(11, "active", 2);
        var nextId = (await (await server.PostAsync("convo.status", next, SignedDeliveries.Sign(next))).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("deliveryId").GetInt64();
        JsonElement taken = default;
        await Eventually.UntilAsync("the next delivery of the conversation to be taken up", async () =>
        {
            taken = await server.Admin.GetFromJsonAsync<JsonElement>($"/api/deliveries/{nextId}");
            return (taken.GetProperty("outcome").GetString() == "parked", $"it is {taken.GetProperty("outcome").GetString()}");
        });

        // Parked without taking another worker: its evaluation would have run into the same rule.
        Assert.StartsWith("Not evaluated: an earlier delivery of this conversation is stuck", taken.GetProperty("error").GetString(), StringComparison.Ordinal);
        var fine2 = Body(12, "active", 2);
        await server.PostAsync("convo.status", fine2, SignedDeliveries.Sign(fine2));
        await Eventually.UntilAsync("another conversation to go on (one of the two workers is stuck)", async () =>
        {
            var items = (await server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries?conversationId=12")).GetProperty("items");
            return (items.EnumerateArray().All(d => d.GetProperty("outcome").GetString() == "done") && items.GetArrayLength() == 2, "not yet");
        });
        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Matches(@"(?m)^freescout_rules_dispatch_stuck(\{[^}]*\})? 1$", metrics);
    }

    [Fact]
    public async Task RunawayRule_IsStoppedAtTheLimit_WithARecordOfWhy()
    {
        const string chatty = """
            public class Chatty : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery);
                    Then().Do(ctx => ctx.Enqueue("nowhere"));
                }
            }
            """;
        await using var server = await TestServerHost.StartAsync(
            new() { ["Dispatch:RuleActionLimit"] = "2", ["Actions:PollInterval"] = "00:01:00" },
            new Dictionary<string, string> { ["chatty.csx"] = chatty });
        for (var second = 1; second <= 3; second++)
        {
            var body = Body(21, "active", second);
            await server.PostAsync("convo.status", body, SignedDeliveries.Sign(body));
        }

        var deliveries = (await server.SettledDeliveriesAsync()).Reverse().ToArray();
        var intents = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions");

        Assert.Equal(2, intents.GetArrayLength());
        Assert.Empty(deliveries[1].GetProperty("suppressedIntents").EnumerateArray());
        var why = Assert.Single(deliveries[2].GetProperty("suppressedIntents").EnumerateArray()).GetString();
        Assert.StartsWith("Rule 'Chatty' already queued 2 actions for conversation 21 within 01:00:00: 'nowhere' was not queued", why, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ParkedDelivery_DoesNotBlockLaterDeliveriesOfItsConversation()
    {
        await using var server = await TestServerHost.StartAsync(extraRules: StatusRulesFailingOn("d.Status == \"spam\""));
        foreach (var (status, second) in new[] { ("active", 1), ("spam", 2), ("closed", 3) })
        {
            var body = Body(9, status, second);
            await server.PostAsync("convo.status", body, SignedDeliveries.Sign(body));
        }

        var deliveries = (await server.SettledDeliveriesAsync()).Reverse().ToArray();

        Assert.Equal(["done", "parked", "done"], deliveries.Select(d => d.GetProperty("outcome").GetString()));
        var change = Assert.Single(deliveries[2].GetProperty("statusChanges").EnumerateArray());
        Assert.Equal("active", change.GetProperty("from").GetString());
        Assert.Equal("closed", change.GetProperty("to").GetString());
    }

    [Theory]
    [InlineData("2", "64", "100000")] // the defaults here: known states of idle conversations come from memory
    [InlineData("1", "1", "0")] // one conversation at a time, every known state read from the database
    public async Task ManyConversationsConcurrently_EachIsProcessedInArrivalOrderExactlyOnce(string workers, string inFlight, string stateCacheSize)
    {
        await using var server = await TestServerHost.StartAsync(
            new() { ["Dispatch:Workers"] = workers, ["Dispatch:InFlight"] = inFlight, ["Dispatch:StateCacheSize"] = stateCacheSize });
        var posts = Enumerable.Range(1, 20).Select(async conversation =>
        {
            for (var second = 0; second < 10; second++)
            {
                var body = Body(conversation, second % 2 == 0 ? "active" : "pending", second);
                var response = await server.PostAsync("convo.status", body, SignedDeliveries.Sign(body));
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            }
        });
        await Task.WhenAll(posts);

        var deliveries = await server.SettledDeliveriesAsync();

        Assert.Equal(200, deliveries.Length);
        Assert.All(deliveries, d => Assert.Equal("done", d.GetProperty("outcome").GetString()));
        foreach (var conversation in deliveries.GroupBy(d => d.GetProperty("conversationId").GetInt32()))
        {
            var changes = conversation.OrderBy(d => d.GetProperty("sequence").GetInt64())
                .SelectMany(d => d.GetProperty("statusChanges").EnumerateArray()).ToList();
            Assert.Equal(10, changes.Count);
            Assert.Null(changes[0].GetProperty("from").GetString());
            for (var i = 1; i < changes.Count; i++)
            {
                // Each change starts where the one before ended: the known state was carried over.
                Assert.Equal(changes[i - 1].GetProperty("to").GetString(), changes[i].GetProperty("from").GetString());
            }
        }
    }

    [Fact]
    public async Task Restart_KeepsTheKnownState()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fsr-restart-{Guid.NewGuid():N}");
        await using (var first = await TestServerHost.StartAsync(root: root))
        {
            first.DeleteRootOnDispose = false;
            await first.PostFixtureAsync("convo.created");
            await first.SettledDeliveriesAsync();
        }

        await using var second = await TestServerHost.StartAsync(root: root);
        await second.PostFixtureAsync("convo.status.closed");
        var deliveries = await second.SettledDeliveriesAsync();

        Assert.Equal(2, deliveries.Length);
        var change = Assert.Single(deliveries[0].GetProperty("statusChanges").EnumerateArray());
        Assert.Equal("active", change.GetProperty("from").GetString());
    }

    [Fact]
    public async Task FailedBackgroundLoop_IsNamedByReadyz_AndCounted()
    {
        await using var server = await TestServerHost.StartAsync();
        var supervisor = server.Services.GetRequiredService<FreeScoutRules.Engine.Supervision.LoopSupervisor>();
        using var stop = new CancellationTokenSource();

        var loop = supervisor.Run("test-loop", _ => throw new IOException("the disk went away"), FreeScoutRules.Engine.Supervision.LoopFailurePolicy.Restart, stop.Token);
        HttpResponseMessage ready = null!;
        await Eventually.UntilAsync("/readyz to name the failed loop", async () =>
        {
            ready = await server.Admin.GetAsync("/readyz");
            return (!ready.IsSuccessStatusCode, $"it answered {(int)ready.StatusCode}");
        });

        Assert.Contains("loop 'test-loop' failed: IOException: the disk went away", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("freescout_rules_loops_failures_total{otel_scope_name=\"FreeScoutRules\",loop=\"test-loop\"}", await server.Admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.Contains(server.Logs, l => l.Contains("Loop test-loop failed unexpectedly", StringComparison.Ordinal));
        await stop.CancelAsync();
        await loop;
    }
}
