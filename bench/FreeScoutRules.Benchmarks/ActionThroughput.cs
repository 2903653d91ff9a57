using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// <c>-- action-throughput [N]</c>: N intents for the built-in <c>http</c> action in a fresh outbox,
/// executed by the real <see cref="ActionRunner"/> (default options: 16 at once) through the host's
/// resilient HttpClient against a Kestrel receiver on loopback that answers 200; prints the rate
/// from the first attempt to the last recorded one.
/// </summary>
internal static class ActionThroughput
{
    public static async Task RunAsync(int count)
    {
        var data = Path.Combine(Path.GetTempPath(), $"fsr-actions-{Guid.NewGuid():N}");
        var storage = new SqliteOptions { DataDirectory = data };
        var received = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:5095");
        await using var receiver = builder.Build();
        receiver.MapPost("/hook", () =>
        {
            Interlocked.Increment(ref received);
            return Results.Ok();
        });
        await receiver.StartAsync();

        // The intents are queued the way dispatch queues them (through the storage port), ten per delivery.
        var store = new SqliteStorage(storage, NullLogger<InboxWriter>.Instance);
        await store.InitializeAsync(default);
        using var stop = new CancellationTokenSource();
        var writerLoop = store.RunAsync(stop.Token);
        var instance = await store.JoinAsync("bench", TimeSpan.FromHours(1), default);
        await Task.WhenAll(Enumerable.Range(0, (count + 9) / 10).Select(async d =>
        {
            var body = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"bench\":{d}}}"));
            var stored = await store.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), d % 500, DateTimeOffset.UtcNow), default);
            var intents = Enumerable.Range(d * 10, Math.Min(10, count - (d * 10))).Select(i => new ActionIntent(
                "bench", "http", d % 500, string.Create(CultureInfo.InvariantCulture, $$$"""{"url":"http://127.0.0.1:5095/hook","body":{"n":{{{i}}}}}"""))).ToList();
            await store.CommitEvaluationAsync(
                new EvaluationCommit(stored.DeliveryId, d % 500, stored.Sequence!.Value, DateTimeOffset.UtcNow, "bench", null, [], intents, new DeliveryResult([], [], [], false))
                {
                    Claim = (await store.ClaimAsync(instance, [d % 500], 1, default)).Single(),
                },
                default);
        }));

        var services = new ServiceCollection();
        services.AddHttpClient();
        services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        await using var provider = services.BuildServiceProvider();
        var plugins = new PluginSetHolder();
        plugins.Set(PluginLoader.Load(PluginLoader.BuiltInDirectory));
        // Every intent goes to one receiver: its destination may use every slot, as before destinations had their own cap.
        var options = new ActionsOptions { PollInterval = TimeSpan.FromMilliseconds(20), ConcurrencyPerDestination = new ActionsOptions().Concurrency };
        var runner = new ActionRunner(store, () => instance, plugins, provider.GetRequiredService<IHttpClientFactory>(),
            options, TimeProvider.System, NullLoggerFactory.Instance);

        var clock = Stopwatch.StartNew();
        var run = runner.RunAsync(stop.Token);
        while ((await store.ListAsync(null, IntentState.Pending, 1, default)).Count > 0)
        {
            await Task.Delay(50);
        }

        var elapsed = clock.Elapsed;
        await stop.CancelAsync();
        await run;
        store.Complete();
        await writerLoop;
        var done = (await store.ListAsync(null, IntentState.Done, count + 1, default)).Count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{done} of {count} intents done, {received} requests received, in {elapsed.TotalSeconds:F2} s: {done / elapsed.TotalSeconds:F0} actions/s (concurrency {options.Concurrency})"));
        Directory.Delete(data, recursive: true);
    }
}
