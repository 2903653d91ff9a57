using System.Globalization;
using System.Text.Json;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Host.Tests.Support;
using Xunit.Abstractions;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>
/// A rolling upgrade on PostgreSQL (issue 22, item 5): two instances of the previous build (<see cref="PreviousRelease"/>,
/// built from this repository's history) take traffic; each is replaced by this build in turn, the first replacement
/// migrating the schema while the other old instance keeps working on it. Nothing is lost or doubled, and what the
/// instances derive together is what <c>freescout-rules test</c> derives from the same deliveries.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRollingUpgradeTests(PostgresCluster cluster, ITestOutputHelper output) : ServeProcessesTest("pg-upgrade")
{
    [Fact]
    public async Task TwoInstancesOfThePreviousBuild_UpgradedOneAtATimeUnderTraffic_DeriveEachStatusChangeOnce_AndLoseNothing()
    {
        var previous = await PreviousRelease.BuildAsync();
        const int Conversations = 300;
        var traffic = FreeScoutTraffic.Generate(Conversations, firstId: 70_001);
        var total = traffic.Sum(c => c.Count);
        Receiver.Latency = TimeSpan.FromMilliseconds(100);
        await using var instances = await PostgresInstances.StartAsync(Root, await cluster.CreateDatabaseAsync(), Receiver, 0);
        var live = new List<ServeProcess> { await instances.StartOneAsync(program: previous), await instances.StartOneAsync(program: previous) };
        Assert.Equal(PreviousRelease.SchemaVersion, await instances.ScalarAsync<int>("SELECT version FROM fsr_schema"));

        // A balancer: sends to the instances in service (one taken out before it is stopped, as a drain does).
        var sender = new TrafficSender(() => { lock (live) { return [.. live]; } });
        var upgraded = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        // Paced until both are upgraded: traffic throughout.
        var sending = sender.SendAllAsync(traffic, 4, stop.Token, ct => Volatile.Read(ref upgraded) < 2 ? Task.Delay(300, ct) : Task.CompletedTask);

        var windows = new List<string>();
        for (var step = 0; step < 2; step++)
        {
            await Eventually.UntilAsync("more traffic before the next upgrade", () => sender.Sent >= total * (step + 1) / 6, TimeSpan.FromSeconds(60));
            ServeProcess old;
            lock (live)
            {
                old = live[0];
                live.RemoveAt(0);
            }

            var sentBefore = sender.Sent;
            // Stopped gracefully (SIGTERM). Its exit code is not this build's concern: that build exits 1 after a clean stop
            // (its store was disposed twice, fixed since).
            await old.StopAsync();
            var replacement = await instances.StartOneAsync(); // this build: the first one migrates, under traffic
            lock (live)
            {
                live.Add(replacement);
            }

            windows.Add(string.Create(CultureInfo.InvariantCulture, $"upgrade {step + 1}: {sender.Sent - sentBefore} deliveries sent meanwhile"));
            Assert.True(sender.Sent > sentBefore, $"no traffic during upgrade {step + 1}");
            if (step == 0)
            {
                Assert.Equal(PostgresMigrations.Current, await instances.ScalarAsync<int>("SELECT version FROM fsr_schema"));
                Assert.Contains($"schema migrated from version {PreviousRelease.SchemaVersion} to {PostgresMigrations.Current}", replacement.Log, StringComparison.Ordinal);
            }
        }

        Interlocked.Exchange(ref upgraded, 2);
        await sending;
        await instances.SettledAsync(TimeSpan.FromSeconds(60));

        var expected = await PostgresInstances.ExpectedChangesAsync(instances.RulesDirectory, traffic);
        var derived = (await instances.RowsAsync("SELECT conversation_id, from_status, to_status, via FROM status_changes"))
            .Select(r => PostgresInstances.Change((int)r[0]!, (string?)r[1], (string)r[2]!, (string)r[3]!)).ToList();
        var intents = await instances.RowsAsync("SELECT id FROM action_intents ORDER BY id");
        output.WriteLine(
            $"{total} deliveries to 2 instances upgraded one at a time ({string.Join("; ", windows)}); accepted "
            + $"{string.Join("/", sender.Accepted.OrderBy(a => a.Key).Select(a => a.Value))}, {sender.Duplicates.Count} duplicates, "
            + $"{sender.Retried.Count} sent again; {derived.Count} status changes, {intents.Count} intents, {Receiver.Requests.Count} requests at the receiver");

        Assert.Empty(sender.Unexpected);
        Assert.Equal(expected.Order(StringComparer.Ordinal), derived.Order(StringComparer.Ordinal));
        Assert.Empty(await instances.BrokenInvariantsAsync());
        var stored = (await instances.RowsAsync("SELECT conversation_id, count(*) FILTER (WHERE event <> 'timer.elapsed') FROM deliveries GROUP BY 1"))
            .ToDictionary(r => (int)r[0]!, r => (long)r[1]!);
        Assert.Equal(Conversations, stored.Count);
        Assert.All(traffic, c => Assert.Equal(c.Count(d => !d.Redelivery), stored[c[0].ConversationId]));
        Assert.Equal(derived.Count + Conversations, intents.Count); // each change posted, each conversation's follow-up
        Assert.Equal(expected.Order(StringComparer.Ordinal), (await instances.ReceivedOncePerIntentAsync()).Order(StringComparer.Ordinal));
    }
}
