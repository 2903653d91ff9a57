using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// The outbox of issue 20: order per conversation and destination, destinations left out while full, and idempotency
/// keys unique per installation (intents from before schema 13 keep the key they may have been sent with).
/// </summary>
public sealed class OutboxDestinationsTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _data = new();

    public void Dispose() => _data.Dispose();

    private static async Task<long> CommitAsync(SqliteStorage storage, int conversationId, IReadOnlyList<ActionIntent> intents, IReadOnlyList<string?>? destinations)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"id\":{conversationId},\"n\":\"{Guid.NewGuid():N}\"}}");
        var stored = await storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), conversationId, At), default);
        await storage.CommitEvaluationAsync(
            new EvaluationCommit(stored.DeliveryId, conversationId, stored.Sequence!.Value, At, "g", null, [], intents, new DeliveryResult([], [], [], false), null, destinations)
            {
                Claim = await storage.ClaimForTestAsync(conversationId),
            },
            default);
        return stored.DeliveryId;
    }

    private static ActionIntent Http(int conversationId, string url) => new("r", "http", conversationId, $$"""{"url":"{{url}}"}""");

    [Fact]
    public async Task OrderHoldsPerConversationAndDestination_AFullDestinationIsLeftOut_AndAnUnorderedActionNeitherWaitsNorHoldsBack()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path);
        var storage = running.Storage;
        await CommitAsync(storage, 7,
            [Http(7, "https://a.example/1"), Http(7, "https://b.example/1"), Http(7, "https://a.example/2"), new ActionIntent("r", "notify", 7, "{}"), new ActionIntent("r", "notify", 7, """{"n":2}""")],
            ["https://a.example:443", "https://b.example:443", "https://a.example:443", null, null]);
        await CommitAsync(storage, 8, [Http(8, "https://a.example/3")], ["https://a.example:443"]);

        var due = await storage.DueForTestAsync();
        // a/1 goes; b/1 does not wait for it (another destination); a/2 waits for a/1; the second 'notify' waits for
        // the first (no destination named: the action as a whole); conversation 8 does not wait for conversation 7.
        Assert.Equal([1L, 2, 4, 6], due.Select(i => i.Id));
        Assert.Equal(["https://a.example:443", "https://b.example:443", "notify", "https://a.example:443"], due.Select(i => i.Destination));

        var waiting = (await storage.ListAsync(null, IntentState.Pending, 10, default)).ToDictionary(i => i.Id);
        Assert.Equal((1L, "https://a.example:443"), (waiting[3].WaitingFor, waiting[3].Destination));
        Assert.Equal(4L, waiting[5].WaitingFor);
        Assert.Null(waiting[2].WaitingFor);

        // A destination with every slot taken is left out, so that the limit goes to the others.
        var full = new HashSet<string>(["https://a.example:443"], StringComparer.Ordinal);
        Assert.Equal([2L, 4], (await storage.DueForTestAsync(full: full)).Select(i => i.Id));

        // An unordered action: its second intent does not wait, and an intent of its destination does not wait for it.
        await CommitAsync(storage, 9, [new ActionIntent("r", "fire", 9, "{}"), new ActionIntent("r", "fire", 9, """{"n":2}"""), new ActionIntent("r", "ordered", 9, "{}")],
            ["x", "x", "x"]);
        var unordered = new HashSet<string>(["fire"], StringComparer.Ordinal);
        Assert.Equal([7L, 8, 9], (await storage.DueForTestAsync(unordered: unordered)).Where(i => i.ConversationId == 9).Select(i => i.Id));
        Assert.Equal([7L], (await storage.DueForTestAsync()).Where(i => i.ConversationId == 9).Select(i => i.Id));
    }

    [Fact]
    public async Task DestinationsAndIntents_GoInPairs()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path);

        var mismatch = await Assert.ThrowsAnyAsync<Exception>(() => CommitAsync(running.Storage, 7, [Http(7, "https://a.example/1")], ["a", "b"]));
        Assert.Contains("2 destinations for 1 intents", mismatch.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoFreshDataDirectories_NeverSendTheSameKey_ForTheirFirstIntents()
    {
        var keys = new List<string>();
        var installations = new List<string>();
        foreach (var name in new[] { "staging", "production" })
        {
            await using var running = await RunningStorage.StartAsync(Path.Combine(_data.Path, name));
            await CommitAsync(running.Storage, 1187, [Http(1187, "https://hooks.example.com/x")], null);
            var due = Assert.Single(await running.Storage.DueForTestAsync());
            Assert.Equal(1L, due.Id);
            installations.Add(running.Storage.InstallationId!);
            keys.Add(due.IdempotencyKey);
            Assert.Equal(due.IdempotencyKey, Assert.Single(await running.Storage.ListAsync(null, null, 10, default)).IdempotencyKey);
        }

        Assert.All(installations, id => Assert.Matches("^[0-9a-f]{32}$", id));
        Assert.NotEqual(installations[0], installations[1]);
        Assert.Equal([$"fsr-{installations[0]}-1", $"fsr-{installations[1]}-1"], keys);

        // The id stays with its database: a restart sends the same keys.
        await using var again = await RunningStorage.StartAsync(Path.Combine(_data.Path, "staging"));
        Assert.Equal(installations[0], again.Storage.InstallationId);
        Assert.Equal(keys[0], Assert.Single(await again.Storage.DueForTestAsync()).IdempotencyKey);
    }

    [Fact]
    public async Task ADatabaseMigratedFromSchema12_KeepsTheKeysItsIntentsWereSentWith_AndOrdersThemByAction()
    {
        var options = new SqliteOptions { DataDirectory = _data.Path, Durable = false };
        await using (var connection = new SqliteConnection($"Data Source={options.DatabasePath}"))
        {
            // Schema 12 (before issue 20): keys were fsr-intent-<id>; order was per conversation and action.
            await connection.OpenAsync();
            await Migrations.ApplyAsync(connection, default, upTo: 12);
            await SqliteDatabase.ExecuteAsync(connection, """
                INSERT INTO deliveries (id, event, body_sha256, conversation_id, seq, received_at, outcome) VALUES (1, 'convo.status', x'01', 1187, 1, 1764583200000, 'done');
                INSERT INTO action_intents (id, delivery_id, conversation_id, rule, action, arguments, state, created_at, attempts)
                VALUES (1, 1, 1187, 'r', 'http', '{"url":"https://a.example/1"}', 'pending', 1764583200000, 1),
                       (2, 1, 1187, 'r', 'http', '{"url":"https://b.example/1"}', 'pending', 1764583200000, 0),
                       (3, 1, 1187, 'r', 'http', '{"url":"https://c.example/1"}', 'done', 1764583200000, 1);
                """);
        }

        await using var running = await RunningStorage.StartAsync(_data.Path);
        var storage = running.Storage;

        // Attempted or not: an attempt cut short by a crash leaves no record, so every intent from before keeps its key.
        var before = (await storage.ListAsync(null, null, 10, default)).OrderBy(i => i.Id).ToList();
        Assert.Equal(["fsr-intent-1", "fsr-intent-2", "fsr-intent-3"], before.Select(i => i.IdempotencyKey));
        Assert.All(before, i => Assert.Equal("http", i.Destination));
        var due = Assert.Single(await storage.DueForTestAsync());
        Assert.Equal((1L, "fsr-intent-1"), (due.Id, due.IdempotencyKey)); // the two old pending ones keep their order (same action)

        await CommitAsync(storage, 1187, [Http(1187, "https://d.example/1")], ["https://d.example:443"]);
        var fresh = (await storage.DueForTestAsync()).Single(i => i.Id == 4);
        Assert.Matches("^[0-9a-f]{32}$", storage.InstallationId!);
        Assert.Equal($"fsr-{storage.InstallationId}-4", fresh.IdempotencyKey);
    }

    [Fact]
    public async Task TheOrderProbe_IsASearchOfThePendingOrderIndex_ByConversationAndDestination()
    {
        await using (await RunningStorage.StartAsync(_data.Path))
        {
        }

        await using var connection = await new SqliteDatabase(new SqliteOptions { DataDirectory = _data.Path, Durable = false }).OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            EXPLAIN QUERY PLAN SELECT 1 FROM action_intents e
            WHERE e.conversation_id = $c AND e.destination = $d AND e.state = 'pending' AND e.id < $id
            """;
        command.Parameters.AddWithValue("$c", 1);
        command.Parameters.AddWithValue("$d", "x");
        command.Parameters.AddWithValue("$id", 1);
        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(3));
            }
        }

        Assert.True(plan.Any(step => step.Contains("INDEX ix_action_intents_pending_order (conversation_id=? AND destination=? AND id<?)", StringComparison.Ordinal)), string.Join(" | ", plan));
    }
}
