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
        Assert.StartsWith("409 Conflict: ", rerun.Error, StringComparison.Ordinal);
        Assert.Contains("no rule failed on it", rerun.Error, StringComparison.Ordinal);
        Assert.Contains("freescout_rules_loops_failures_total{otel_scope_name=\"FreeScoutRules\",loop=\"dispatcher\"} 0", await server.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);

        Assert.Equal(0, await server.StopAsync());
        Assert.DoesNotContain("   at ", server.Log, StringComparison.Ordinal); // a clean stop prints no stack trace
    }

    [Fact]
    public async Task Send_PostsRecordedDeliveriesSignedAsFreeScoutDoes_AndPrintsEachAnswer()
    {
        await using var server = await ServeProcess.StartAsync(_root);
        var url = server.Client.BaseAddress!.ToString().TrimEnd('/');
        using var events = new JsonLinesFile();
        var file = events.Add("convo.created", "convo.created").Add("convo.status", "convo.status.closed").Save();

        var first = await CliProcess.RunAsync(null, "send", "--events", file, "--url", url, "--secret", SignedDeliveries.Secret);
        var again = await CliProcess.RunAsync(null, "send", "--events", file, "--url", url, "--secret", SignedDeliveries.Secret);
        var wrong = await CliProcess.RunAsync(null, "send", "--events", file, "--url", url, "--secret", "not-the-secret");

        Assert.Equal(0, first.ExitCode);
        Assert.StartsWith("line 1: convo.created -> 202 {\"deliveryId\":", first.OutputLines[0], StringComparison.Ordinal);
        Assert.StartsWith("line 2: convo.status -> 202 ", first.OutputLines[1], StringComparison.Ordinal);
        Assert.Equal($"2 deliveries sent to {url}/webhooks/freescout, 0 not accepted", first.OutputLines[^1]);
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
}
