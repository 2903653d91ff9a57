using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Actions;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// <c>-- storage-cost [N]</c>: what durable storage alone costs per delivery, without HTTP, parsing
/// or rules. Stores N unique 7 KB deliveries through the real single writer (durable SQLite) from 64
/// concurrent submitters, as <c>serve</c>'s requests do, then commits N results (one status change
/// each) the same way, as the dispatcher does. Prints, per phase, the rate, the process CPU time
/// (user + kernel) per delivery and the bytes written to disk per delivery. <c>-- storage-cost N
/// not-durable</c> does the same without fsync (<c>Storage:Durable=false</c>).
/// </summary>
internal static class StorageCost
{
    private const int Submitters = 64;

    public static async Task RunAsync(int count, bool durable = true)
    {
        var (delivery, _) = Inputs.ParsedDelivery();
        var storage = new SqliteOptions { DataDirectory = Path.Combine(Path.GetTempPath(), $"fsr-storage-{Guid.NewGuid():N}"), Durable = durable };
        Console.WriteLine($"Storage:Durable={durable}");
        var database = new SqliteDatabase(storage);
        await database.InitializeAsync();
        var writer = new InboxWriter(database, storage, NullLogger<InboxWriter>.Instance);
        var loop = writer.RunAsync(CancellationToken.None);
        var body = Inputs.ReadBody();
        var bodies = Enumerable.Range(0, count).Select(i => body.Concat(BitConverter.GetBytes(i)).ToArray()).ToArray();
        var conversations = Enumerable.Range(0, 10_000).Select(i => delivery.Conversation with { Id = 1_000 + i }).ToArray();
        var stored = new StoreResult[count];

        await MeasureAsync("store (request path)", count, async i =>
        {
            var unique = bodies[i];
            stored[i] = await writer.SubmitAsync(new StoreDeliveryOperation(
                new NewDelivery("convo.status", unique, SHA256.HashData(unique), conversations[i % conversations.Length].Id, DateTimeOffset.UtcNow)));
        });

        // Dispatch commits under claims: every conversation claimed once, as a lane would.
        var instance = await writer.SubmitAsync(new JoinOperation("bench", DateTimeOffset.UtcNow, TimeSpan.FromHours(1)));
        var claims = (await writer.SubmitAsync(new ClaimConversationsOperation(
            instance.Id, [.. conversations.Select(c => c.Id)], conversations.Length, DateTimeOffset.UtcNow))).ToDictionary(c => c.ConversationId);

        await MeasureAsync("apply results (dispatch)", count, async i =>
        {
            var conversationId = 1_000 + (i % conversations.Length);
            var changes = new List<StatusChanged> { new(conversationId, 1, "active", "closed", "convo.status", delivery.UpdatedAt, null) };
            var intentsOf = new List<ActionIntent>([]);
            var commit = new EvaluationCommit(
                stored[i].DeliveryId, conversationId, stored[i].Sequence!.Value, DateTimeOffset.UtcNow, "g", new NextState(conversationId, "closed", delivery.UpdatedAt), changes, intentsOf,
                new DeliveryResult([], ["status.changed-from-known-state"], [], false))
            {
                Claim = claims[conversationId],
            };
            await writer.SubmitAsync(new ApplyEvaluationOperation(commit));
        });

        writer.Complete();
        await loop;
        Directory.Delete(storage.DataDirectory, recursive: true);
    }

    private static async Task MeasureAsync(string phase, int count, Func<int, Task> one)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var written = WrittenBytes();
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Submitters).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await one(i);
            }
        }));
        var seconds = clock.Elapsed.TotalSeconds;
        process.Refresh();
        var cpuPerDelivery = (process.TotalProcessorTime - cpu).TotalMicroseconds / count;
        var bytesPerDelivery = (WrittenBytes() - written) / (double)count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{phase}: {count} in {seconds:F2} s = {count / seconds:F0}/s; CPU {cpuPerDelivery:F1} µs per delivery; {bytesPerDelivery / 1024:F1} KB written per delivery"));
    }

    /// <summary>Bytes this process caused to be written to storage so far (Linux), or 0 elsewhere.</summary>
    private static long WrittenBytes()
    {
        const string io = "/proc/self/io";
        if (!File.Exists(io))
        {
            return 0;
        }

        var line = File.ReadLines(io).FirstOrDefault(l => l.StartsWith("write_bytes:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line["write_bytes:".Length..].Trim(), CultureInfo.InvariantCulture);
    }
}
