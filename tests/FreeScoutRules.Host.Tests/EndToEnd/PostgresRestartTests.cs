using System.Net;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Host.Tests.Support;
using Xunit.Abstractions;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>
/// The database restarted under two <c>serve</c> instances (issue 22), on a cluster of the test's own (stopping the
/// shared one would disturb the other tests): while it is down, webhooks answer 503 with <c>Retry-After</c> (FreeScout
/// retries) and <c>/readyz</c> says why to a caller with the token; once it is back, everything resumes without loss.
/// In the PostgreSQL collection all the same, so that it does not run beside the other multi-process tests.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRestartTests(ITestOutputHelper output) : ServeProcessesTest("pg-restart")
{
    // Durable: the server is stopped as a crash stops it, and what it acknowledged must survive (with synchronous_commit
    // off, as the shared test clusters run, a crash loses the last commits: a delivery answered 202 would be gone).
    private readonly PostgresCluster _cluster = new(durable: true);

    public override async Task InitializeAsync()
    {
        await _cluster.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task TheDatabaseRestarted_WebhooksAre503WithRetryAfter_ReadyzSaysWhy_AndEverythingResumesWithoutLoss()
    {
        var traffic = FreeScoutTraffic.Generate(30, firstId: 70_001);
        await using var instances = await PostgresInstances.StartAsync(Root, await _cluster.CreateDatabaseAsync(), Receiver, 2);
        var sender = new TrafficSender(() => instances.All);
        foreach (var conversation in traffic.Take(10))
        {
            await sender.SendAsync(conversation, CancellationToken.None);
        }

        await _cluster.StopServerAsync();
        var stoppedAt = DateTimeOffset.UtcNow;
        // FreeScout goes on sending meanwhile, and retries what is refused (the sender: after 100 ms, at the next instance).
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var sending = Task.WhenAll(traffic.Skip(10).Chunk(5).Select(chunk => Task.Run(async () =>
        {
            foreach (var conversation in chunk)
            {
                await sender.SendAsync(conversation, stop.Token);
            }
        })));

        var (eventName, body, signature) = (traffic[0][0].Event, traffic[0][0].Body, traffic[0][0].Signature);
        var refused = await instances.All[0].PostAsync(eventName, body, signature);
        var readiness = "";
        await Eventually.UntilAsync("/readyz to say the store does not answer", async () =>
        {
            using var ready = await instances.All[1].Admin.GetAsync("/readyz");
            readiness = await ready.Content.ReadAsStringAsync();
            return ready.StatusCode == HttpStatusCode.ServiceUnavailable && readiness.Contains("Storage: the store does not answer", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10));
        using var anonymous = await instances.All[1].Client.GetAsync("/readyz");
        var anonymousAnswer = await anonymous.Content.ReadAsStringAsync();
        var rest = TimeSpan.FromSeconds(3) - (DateTimeOffset.UtcNow - stoppedAt);
        await Task.Delay(rest > TimeSpan.Zero ? rest : TimeSpan.Zero); // down at least 3 s
        await _cluster.StartServerAsync();
        var downFor = DateTimeOffset.UtcNow - stoppedAt;

        await sending;
        await Eventually.UntilAsync("both instances to be ready again", async () =>
        {
            foreach (var server in instances.All)
            {
                using var ready = await server.Admin.GetAsync("/readyz");
                if (ready.StatusCode != HttpStatusCode.OK)
                {
                    return (false, await ready.Content.ReadAsStringAsync());
                }
            }

            return (true, "");
        }, TimeSpan.FromSeconds(20));
        await instances.SettledAsync(TimeSpan.FromSeconds(40));
        output.WriteLine($"down {downFor.TotalSeconds:0.0} s; {sender.Retried.Count} deliveries sent again ({sender.Retried.Count(r => r.StartsWith("503", StringComparison.Ordinal))} after a 503); /readyz said: {readiness}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(10), refused.Headers.RetryAfter?.Delta);
        Assert.Contains("Storage unavailable", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains($"PostgreSQL 127.0.0.1:", readiness, StringComparison.Ordinal); // which database, never the password
        Assert.Equal("Unhealthy", anonymousAnswer); // the reason only for a caller with the token
        Assert.Contains(sender.Retried, r => r.StartsWith("503", StringComparison.Ordinal));
        Assert.Empty(sender.Unexpected);
        Assert.All(instances.All, s => Assert.False(s.HasExited, $"an instance exited:\n{s.Log}"));
        Assert.Empty(await instances.BrokenInvariantsAsync());
        var stored = (await instances.RowsAsync("SELECT conversation_id, count(*) FROM deliveries WHERE event <> 'timer.elapsed' GROUP BY 1"))
            .ToDictionary(r => (int)r[0]!, r => (long)r[1]!);
        Assert.All(traffic, c => Assert.Equal(c.Count(d => !d.Redelivery), stored.GetValueOrDefault(c[0].ConversationId)));
        var intents = await instances.ScalarAsync<long>("SELECT count(*) FROM action_intents");
        Assert.Equal(intents, Receiver.Requests.Select(r => r.IdempotencyKey).Distinct().LongCount());
    }
}
