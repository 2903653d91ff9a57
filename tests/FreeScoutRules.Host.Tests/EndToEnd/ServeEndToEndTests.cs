using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>The real <c>serve</c> process on loopback: signed fixtures in, outcome out through the admin API; kill -9 under load.</summary>
public sealed class ServeEndToEndTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-e2e-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Serve_SignedFixtures_AreProcessedAndVisibleThroughTheAdminApi()
    {
        await using var server = await ServeProcess.StartAsync(_root);
        foreach (var (name, eventName, body, signature) in SignedDeliveries.All())
        {
            var response = await server.PostAsync(eventName, body, signature);
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{name}: {(int)response.StatusCode}");
        }

        var redelivery = SignedDeliveries.Get("convo.status.closed");
        Assert.Equal(HttpStatusCode.OK, (await server.PostAsync(redelivery.Event, redelivery.Body, redelivery.Signature)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.PostAsync(redelivery.Event, redelivery.Body, "AAAA")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.GetAsync("/api/deliveries")).StatusCode);

        var deliveries = await server.SettledDeliveriesAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(15, deliveries.Length);
        Assert.Equal(13, deliveries.Count(d => d.GetProperty("outcome").GetString() == "done"));
        var changes = deliveries.Reverse().SelectMany(d => d.GetProperty("statusChanges").EnumerateArray())
            .Select(c => $"{c.GetProperty("from").GetString() ?? "?"}->{c.GetProperty("to").GetString()}").ToList();
        Assert.Contains("pending->active", changes);
        Assert.Contains("closed->active", changes);
        Assert.DoesNotContain(server.Log, SignedDeliveries.Secret, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Log, TestServerHost.AdminToken, StringComparison.Ordinal);

        // The CLI re-runs through the running server's admin API; a delivery without failures has nothing to re-run.
        var rerun = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string> { ["FREESCOUTRULES_ADMIN_TOKEN"] = TestServerHost.AdminToken },
            null, "deliveries", "rerun", "--id", deliveries.First(d => d.GetProperty("outcome").GetString() == "done").GetProperty("id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--url", server.Client.BaseAddress!.ToString().TrimEnd('/'));
        Assert.Equal(1, rerun.ExitCode);
        Assert.Contains(rerun.ErrorLines, l => l.StartsWith("409 Conflict: ", StringComparison.Ordinal));
        Assert.Contains($"server: {server.Client.BaseAddress} (from --url)", rerun.Error, StringComparison.Ordinal);
        Assert.Contains("no rule failed on it", rerun.Error, StringComparison.Ordinal);
        Assert.Contains("freescout_rules_loops_failures_total{otel_scope_name=\"FreeScoutRules\",loop=\"dispatcher\"} 0", await server.Admin.GetStringAsync("/metrics"), StringComparison.Ordinal);

        Assert.Equal(0, await server.StopAsync());
        Assert.DoesNotContain("   at ", server.Log, StringComparison.Ordinal); // a clean stop prints no stack trace
    }

    [Fact]
    public async Task Send_PostsRecordedDeliveriesSignedAsFreeScoutDoes_AndPrintsEachAnswer()
    {
        await using var server = await ServeProcess.StartAsync(_root);
        var url = server.Client.BaseAddress!.ToString().TrimEnd('/');
        using var events = new JsonLinesFile();
        var file = events.Add("convo.created", "convo.created").AddRaw("""{"clock": "2026-12-01T10:00:00Z"}""").Add("convo.status", "convo.status.closed").Save();

        var first = await CliProcess.RunAsync(null, "send", "--events", file, "--url", url, "--secret", SignedDeliveries.Secret);
        var again = await CliProcess.RunAsync(null, "send", "--events", file, "--url", url, "--secret", SignedDeliveries.Secret);
        var wrong = await CliProcess.RunAsync(null, "send", "--events", file, "--url", url, "--secret", "not-the-secret");

        Assert.Equal(0, first.ExitCode);
        Assert.StartsWith("line 1: convo.created -> 202 {\"deliveryId\":", first.OutputLines[0], StringComparison.Ordinal);
        Assert.StartsWith("line 3: convo.status -> 202 ", first.OutputLines[1], StringComparison.Ordinal);
        Assert.Equal($"2 deliveries sent to {url}/webhooks/freescout, 0 not accepted (1 clock lines skipped: the server keeps its own time)", first.OutputLines[^1]);
        Assert.Contains("-> 200 ", again.OutputLines[0], StringComparison.Ordinal); // the same bytes again: a redelivery
        Assert.Contains("\"duplicate\"", again.OutputLines[0], StringComparison.Ordinal);
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("-> 401 ", wrong.OutputLines[0], StringComparison.Ordinal);
        Assert.Equal(2, (await server.SettledDeliveriesAsync(TimeSpan.FromSeconds(30))).Length);
    }

    [Fact]
    public async Task Serve_KilledWithSigkillUnderLoad_EveryAcknowledgedDeliveryIsProcessedExactlyOnce()
    {
        var template = JsonNode.Parse(SignedDeliveries.Get("convo.status.closed").Body)!.AsObject();
        var acknowledged = new ConcurrentDictionary<long, int>();
        var refusedBodies = new ConcurrentBag<string>();
        var counter = 0;

        var server = await ServeProcess.StartAsync(_root);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var senders = Enumerable.Range(0, 8).Select(sender => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var n = Interlocked.Increment(ref counter);
                var json = template.DeepClone().AsObject();
                json["id"] = 5000 + (n % 40);
                json["number"] = n;
                json["status"] = n % 2 == 0 ? "active" : "pending";
                json["updatedAt"] = DateTimeOffset.FromUnixTimeSeconds(1_750_000_000 + n).ToString("yyyy-MM-ddTHH:mm:ssZ");
                var body = Encoding.UTF8.GetBytes(json.ToJsonString());
                var forged = n % 10 == 0;
                try
                {
                    var response = await server.PostAsync("convo.status", body, forged ? SignedDeliveries.Sign([.. body, 0x20]) : SignedDeliveries.Sign(body));
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
                        acknowledged[answer.GetProperty("deliveryId").GetInt64()] = n;
                    }
                    else if (forged)
                    {
                        refusedBodies.Add($"{n}");
                    }
                }
                catch (HttpRequestException)
                {
                    return;
                }
                catch (TaskCanceledException)
                {
                    return;
                }
            }
        })).ToArray();

        await Task.Delay(1200);
        server.Kill();
        await Task.WhenAll(senders);
        await server.DisposeAsync();
        Assert.True(acknowledged.Count > 20, $"only {acknowledged.Count} deliveries were acknowledged before the kill");

        await using var restarted = await ServeProcess.StartAsync(_root);
        var deliveries = await restarted.SettledDeliveriesAsync(TimeSpan.FromSeconds(60));

        var byId = deliveries.ToDictionary(d => d.GetProperty("id").GetInt64());
        Assert.All(acknowledged.Keys, id =>
        {
            Assert.True(byId.TryGetValue(id, out var delivery), $"acknowledged delivery {id} was lost");
            Assert.Equal("done", delivery.GetProperty("outcome").GetString());
            Assert.Equal(1, delivery.GetProperty("attempts").GetInt32());
        });
        Assert.All(deliveries, d => Assert.Equal("done", d.GetProperty("outcome").GetString()));
        // Conversations 5000, 5010, 5020 and 5030 only ever got forged signatures: refused, so never stored.
        Assert.NotEmpty(refusedBodies);
        Assert.DoesNotContain(deliveries, d => d.GetProperty("conversationId").GetInt32() % 10 == 0);
        foreach (var conversation in deliveries.GroupBy(d => d.GetProperty("conversationId").GetInt32()))
        {
            string? last = null;
            foreach (var delivery in conversation.OrderBy(d => d.GetProperty("sequence").GetInt64()))
            {
                foreach (var change in delivery.GetProperty("statusChanges").EnumerateArray())
                {
                    Assert.Equal(last, change.GetProperty("from").GetString());
                    last = change.GetProperty("to").GetString();
                }
            }
        }
    }

    /// <summary>
    /// Rules for the timer kill test. Every delivery schedules "followup" at the second half-second mark after its
    /// receipt, so that timers fall due in bursts of dozens (fired together, then handled one by one: wide windows
    /// for the kill). Its first firing schedules "followup" again (number 2, 0.5 s after its due time: the same
    /// timer row, fired then pending again), whose firing schedules "second" (another row), all on the marks; each
    /// firing queues an action naming it. The actions have no plugin: their intents stay in the outbox (attempted
    /// and retried later), where the test counts them.
    /// </summary>
    private const string FollowUpRules = """
        public class ScheduleFollowUp : Rule
        {
            public override void Define()
            {
                Delivery delivery = default!;
                When().Match(() => delivery);
                Then().Do(ctx => ctx.Schedule("followup", delivery.ConversationId,
                    new DateTimeOffset((delivery.ReceivedAt.UtcTicks / 5_000_000 + 2) * 5_000_000, TimeSpan.Zero)));
            }
        }

        public class FollowUp : Rule
        {
            public override void Define()
            {
                TimerElapsed timer = default!;
                When().Match(() => timer, t => t.Name == "followup" || t.Name == "second");
                Then().Do(ctx => ctx.Enqueue(timer.Name + "-mailer", new { conversation = timer.ConversationId, timer = timer.Name, number = timer.Number, firing = timer.Id }));
            }
        }

        public class FollowUpAgain : Rule
        {
            public override void Define()
            {
                TimerElapsed timer = default!;
                When().Match(() => timer, t => t.Name == "followup");
                Then().Do(ctx => ctx.Schedule(timer.Number == 1 ? "followup" : "second", timer.ConversationId, TimeSpan.FromMilliseconds(500)));
            }
        }
        """;

    [Fact]
    public async Task Serve_KilledWithSigkillWhileTimersAreDueAndFiring_EveryTimerFiresExactlyOnce()
    {
        const int Conversations = 300;
        const int FirstConversation = 7001;
        Directory.CreateDirectory(Path.Combine(_root, "rules"));
        await File.WriteAllTextAsync(Path.Combine(_root, "rules", "followup.csx"), FollowUpRules);
        var template = JsonNode.Parse(SignedDeliveries.Get("convo.created").Body)!.AsObject();
        var acknowledged = new ConcurrentDictionary<int, long>(); // conversation -> its delivery
        var counter = 0;

        // New conversations at a steady pace (6 senders, 20 ms apart), still arriving at the kill: some deliveries
        // are pending, some have scheduled their timer, timers are due, just fired (their delivery pending) or handled.
        var server = await ServeProcess.StartAsync(_root);
        var senders = Enumerable.Range(0, 6).Select(sender => Task.Run(async () =>
        {
            for (var n = Interlocked.Increment(ref counter); n <= Conversations; n = Interlocked.Increment(ref counter))
            {
                var json = template.DeepClone().AsObject();
                json["id"] = FirstConversation - 1 + n;
                json["number"] = FirstConversation - 1 + n;
                var body = Encoding.UTF8.GetBytes(json.ToJsonString());
                try
                {
                    var response = await server.PostAsync("convo.created", body, SignedDeliveries.Sign(body));
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
                        acknowledged[FirstConversation - 1 + n] = answer.GetProperty("deliveryId").GetInt64();
                    }

                    await Task.Delay(20);
                }
                catch (HttpRequestException)
                {
                    return;
                }
                catch (TaskCanceledException)
                {
                    return;
                }
            }
        })).ToArray();

        await Eventually.UntilAsync("the first timers to fire", async () =>
            System.Text.RegularExpressions.Regex.IsMatch(
                await server.Admin.GetStringAsync("/metrics"), @"^freescout_rules_timers_fired_total\{[^}]*\} [1-9]", System.Text.RegularExpressions.RegexOptions.Multiline),
            TimeSpan.FromSeconds(30));
        // Timers fall due on half-second marks: kill just after the next one, as its burst is fired and handled.
        var mark = new DateTimeOffset((DateTimeOffset.UtcNow.UtcTicks / 5_000_000 + 1) * 5_000_000, TimeSpan.Zero);
        var wait = mark.AddMilliseconds(10) - DateTimeOffset.UtcNow;
        await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
        server.Kill();
        var killedAt = DateTimeOffset.UtcNow;
        await Task.WhenAll(senders);
        await server.DisposeAsync();
        Assert.True(acknowledged.Count > 20, $"only {acknowledged.Count} deliveries were acknowledged before the kill");

        await using var restarted = await ServeProcess.StartAsync(_root);
        // Settled: no delivery pending, then no timer pending, then still no delivery pending and none new. (A
        // delivery done in between would have been pending at the first look; a timer fired in between is a new
        // delivery.) From there nothing can fire any more.
        await Eventually.UntilAsync("no delivery and no timer pending", async () =>
        {
            var before = await CountDeliveriesAsync(restarted);
            var timers = (await restarted.Admin.GetFromJsonAsync<JsonElement>("/api/timers?limit=1000")).GetArrayLength();
            var after = await CountDeliveriesAsync(restarted);
            return (before.Pending == 0 && timers == 0 && after == before,
                $"{before.Pending} of {before.All} deliveries pending, {timers} timers pending, then {after.Pending} of {after.All}");
        }, TimeSpan.FromSeconds(60));

        var deliveries = await restarted.SettledDeliveriesAsync(TimeSpan.FromSeconds(10));
        var intents = (await restarted.Admin.GetFromJsonAsync<JsonElement>("/api/actions?limit=1000")).EnumerateArray().ToArray();
        var byConversation = deliveries.GroupBy(d => d.GetProperty("conversationId").GetInt32()).ToDictionary(g => g.Key, g => g.OrderBy(d => d.GetProperty("sequence").GetInt64()).ToArray());

        // Every acknowledged conversation is there with the delivery it was acknowledged with (others may have been
        // stored without their answer reaching the sender: they count as well).
        Assert.All(acknowledged, a => Assert.True(
            byConversation.TryGetValue(a.Key, out var stored) && stored[0].GetProperty("id").GetInt64() == a.Value,
            $"acknowledged delivery {a.Value} of conversation {a.Key} was lost"));
        Assert.All(byConversation.Keys, c => Assert.InRange(c, FirstConversation, FirstConversation + Conversations - 1));
        Assert.True(intents.Length < 1000, "more intents than one page of /api/actions"); // else some were not read

        // Each conversation: its delivery, then each timer fired exactly once, in order, each done once with
        // exactly one intent from its handler, in the delivery's record and in the outbox alike.
        var intentsByDelivery = intents.GroupBy(i => i.GetProperty("deliveryId").GetInt64()).ToDictionary(g => g.Key, g => g.ToArray());
        foreach (var (conversation, stored) in byConversation)
        {
            Assert.True(
                stored.Select(d => (d.GetProperty("sequence").GetInt64(), d.GetProperty("event").GetString()))
                    .SequenceEqual([(1L, "convo.created"), (2L, "timer.elapsed"), (3L, "timer.elapsed"), (4L, "timer.elapsed")]),
                $"conversation {conversation}: {string.Join(", ", stored.Select(d => $"#{d.GetProperty("id")} seq {d.GetProperty("sequence")} {d.GetProperty("event")}"))}");
            Assert.All(stored, d =>
            {
                Assert.Equal("done", d.GetProperty("outcome").GetString());
                Assert.Equal(1, d.GetProperty("attempts").GetInt32());
                Assert.Empty(d.GetProperty("ruleFailures").EnumerateArray());
            });
            Assert.Empty(stored[0].GetProperty("actionIntents").EnumerateArray());
            foreach (var (firing, name, number) in new[] { (stored[1], "followup", 1), (stored[2], "followup", 2), (stored[3], "second", 1) })
            {
                var id = firing.GetProperty("id").GetInt64();
                var recorded = Assert.Single(firing.GetProperty("actionIntents").EnumerateArray());
                var queued = Assert.Single(intentsByDelivery.GetValueOrDefault(id) ?? []);
                foreach (var (intentAction, arguments) in new[] { (recorded.GetProperty("action"), recorded.GetProperty("arguments")), (queued.GetProperty("action"), queued.GetProperty("arguments")) })
                {
                    Assert.Equal($"{name}-mailer", intentAction.GetString());
                    Assert.Equal(
                        (conversation, name, number, id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                        (arguments.GetProperty("conversation").GetInt32(), arguments.GetProperty("timer").GetString(), arguments.GetProperty("number").GetInt32(), arguments.GetProperty("firing").GetString()));
                }
            }
        }

        Assert.Equal(3 * byConversation.Count, intents.Length);
        Assert.Empty((await restarted.Admin.GetFromJsonAsync<JsonElement>("/api/timers?limit=1000")).EnumerateArray());
        // The kill fell among the firings: some timers fired before it and some after the restart.
        var firings = deliveries.Where(d => d.GetProperty("event").GetString() == "timer.elapsed").Select(d => d.GetProperty("receivedAt").GetDateTimeOffset()).ToArray();
        Assert.True(firings.Any(f => f < killedAt) && firings.Any(f => f > killedAt),
            $"{firings.Count(f => f < killedAt)} timers fired before the kill, {firings.Count(f => f > killedAt)} after the restart");
        Assert.DoesNotContain("was not committed", restarted.Log, StringComparison.Ordinal);
    }

    private static async Task<(long Pending, long All)> CountDeliveriesAsync(ServeProcess server)
    {
        var counts = (await server.Admin.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("deliveries").EnumerateObject().ToArray();
        return (counts.Where(c => c.Name == "pending").Sum(c => c.Value.GetInt64()), counts.Sum(c => c.Value.GetInt64()));
    }
}
