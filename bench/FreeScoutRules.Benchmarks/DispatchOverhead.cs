using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// <c>-- dispatch-overhead [N]</c>: what the outbox adds to dispatch. Stores N deliveries, then
/// commits their evaluations one at a time as a dispatch worker does (durable SQLite, the single
/// writer), once with no action intent and once with 3 intents each (the outbox rows plus the
/// runaway-limit count), and prints the latency of each commit: p50, p99 and the difference.
/// </summary>
internal static class DispatchOverhead
{
    public static async Task RunAsync(int count)
    {
        var (delivery, prior) = Inputs.ParsedDelivery();
        var none = await MeasureAsync(count, delivery, 0);
        var three = await MeasureAsync(count, delivery, 3);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"commit of one delivery's results, {count} each: no intents p50 {none.P50:F3} ms p99 {none.P99:F3} ms; 3 intents p50 {three.P50:F3} ms p99 {three.P99:F3} ms; outbox adds {three.P99 - none.P99:F3} ms at p99"));
        _ = prior;
    }

    private static async Task<(double P50, double P99)> MeasureAsync(int count, Delivery delivery, int intents)
    {
        var storage = new SqliteOptions { DataDirectory = Path.Combine(Path.GetTempPath(), $"fsr-dispatch-{Guid.NewGuid():N}") };
        var database = new SqliteDatabase(storage);
        await database.InitializeAsync();
        var writer = new InboxWriter(database, storage, NullLogger<InboxWriter>.Instance);
        var loop = writer.RunAsync(CancellationToken.None);
        var body = Inputs.ReadBody();
        var stored = new List<StoreResult>(count);
        for (var i = 0; i < count; i++)
        {
            var unique = body.Concat(BitConverter.GetBytes(i)).ToArray();
            stored.Add(await writer.SubmitAsync(new StoreDeliveryOperation(
                new NewDelivery("convo.status", unique, SHA256.HashData(unique), 1000 + (i % 200), DateTimeOffset.UtcNow))));
        }

        var instance = await writer.SubmitAsync(new JoinOperation("bench", DateTimeOffset.UtcNow, TimeSpan.FromHours(1)));
        var claims = (await writer.SubmitAsync(new ClaimConversationsOperation(
            instance.Id, [.. Enumerable.Range(1000, 200)], 200, DateTimeOffset.UtcNow))).ToDictionary(c => c.ConversationId);
        var latencies = new double[count];
        for (var i = 0; i < count; i++)
        {
            var conversationId = 1000 + (i % 200);
            var changes = new List<StatusChanged> { new(conversationId, 1, "active", "closed", "convo.status", delivery.UpdatedAt, null) };
            var intentsOf = new List<ActionIntent>([.. Enumerable.Range(0, intents).Select(n => new ActionIntent("rule-" + n, "http", conversationId, """{"url":"http://x"}"""))]);
            var commit = new EvaluationCommit(
                stored[i].DeliveryId, conversationId, stored[i].Sequence!.Value, DateTimeOffset.UtcNow, "g", new NextState(conversationId, "closed", delivery.UpdatedAt), changes, intentsOf,
                new DeliveryResult([], ["status.changed-from-known-state"], [], false))
            {
                Claim = claims[conversationId],
            };
            var clock = Stopwatch.StartNew();
            await writer.SubmitAsync(new ApplyEvaluationOperation(commit));
            latencies[i] = clock.Elapsed.TotalMilliseconds;
        }

        writer.Complete();
        await loop;
        Directory.Delete(storage.DataDirectory, recursive: true);
        Array.Sort(latencies);
        return (latencies[count / 2], latencies[(int)(count * 0.99)]);
    }
}
