using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// The storage format of issue 14: compressed bodies that every reader gets back byte for byte, the
/// dedupe key in the conversation's index, and databases of the earlier format migrated with nothing lost.
/// </summary>
public sealed class StorageFormatTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _data = new();

    public void Dispose() => _data.Dispose();

    private SqliteOptions Options => new() { DataDirectory = _data.Path, Durable = false };

    private static NewDelivery Delivery(string eventName, byte[] body, int? conversationId) =>
        new(eventName, body, SHA256.HashData(body), conversationId, At);

    private readonly CollectingLogger<InboxWriter> _log = new();

    private async Task<T> WithStorageAsync<T>(Func<SqliteStorage, Task<T>> use)
    {
        await using var running = await RunningStorage.StartAsync(_data.Path, _log);
        return await use(running.Storage);
    }

    private async Task<List<(long Id, long Length, string? Encoding)>> RawBodiesAsync()
    {
        await using var connection = await new SqliteDatabase(Options).OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT delivery_id, length(body), encoding FROM delivery_bodies ORDER BY delivery_id";
        var rows = new List<(long, long, string?)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
        }

        return rows;
    }

    [Fact]
    public async Task Bodies_AreStoredCompressed_AndEveryReaderGetsTheBytesAsReceived()
    {
        var wire = Fixtures.Wire("convo.status.closed.on-reply");
        var stored = await WithStorageAsync(async storage =>
        {
            var result = await storage.StoreAsync(Delivery("convo.status", wire, 1187), default);
            await storage.CommitEvaluationAsync(new EvaluationCommit(
                result.DeliveryId, 1187, 1, At, "g", null, [], [new ActionIntent("rule", "http", 1187, "{}")], new DeliveryResult([], [], [], false))
            {
                Claim = await storage.ClaimForTestAsync(1187),
            }, default);

            Assert.Equal(wire, (await storage.GetStoredAsync(result.DeliveryId, default))!.Body);
            Assert.Equal(wire, Assert.Single(await storage.LoadHistoryAsync(1187, default)).Body);
            var due = Assert.Single(await storage.DueForTestAsync());
            Assert.Equal("convo.status", due.Delivery!.Event);
            Assert.Equal(wire, due.Delivery.Body);
            return result;
        });

        var raw = Assert.Single(await RawBodiesAsync());
        Assert.Equal((stored.DeliveryId, BodyEncoding.Deflate), (raw.Id, raw.Encoding));
        Assert.True(raw.Length < wire.Length / 3, $"{raw.Length} bytes stored for {wire.Length}");
    }

    [Fact]
    public async Task Redeliveries_AreRecognised_WithinTheirConversation_AndWithoutOne()
    {
        var body = Encoding.UTF8.GetBytes("""{"id":7,"status":"closed"}""");
        var customer = Encoding.UTF8.GetBytes("""{"id":42,"email":"a@example.com"}""");
        await WithStorageAsync(async storage =>
        {
            var first = await storage.StoreAsync(Delivery("convo.status", body, 7), default);
            var again = await storage.StoreAsync(Delivery("convo.status", body, 7), default);
            var otherEvent = await storage.StoreAsync(Delivery("convo.agent.reply.created", body, 7), default);
            var noConversation = await storage.StoreAsync(Delivery("customer.created", customer, null), default);
            var noConversationAgain = await storage.StoreAsync(Delivery("customer.created", customer, null), default);

            Assert.Equal((false, true, false), (first.Duplicate, again.Duplicate, otherEvent.Duplicate));
            Assert.Equal(first.DeliveryId, again.DeliveryId);
            Assert.Equal(2L, otherEvent.Sequence);
            Assert.Equal((false, true), (noConversation.Duplicate, noConversationAgain.Duplicate));
            Assert.Equal(noConversation.DeliveryId, noConversationAgain.DeliveryId);
            return 0;
        });
    }

    [Fact]
    public async Task ADatabaseOfTheEarlierFormat_IsMigrated_AndKeepsEveryDeliveryItsBodyAndItsDedupe()
    {
        var wire = Fixtures.Wire("convo.status.closed.on-reply");
        var customer = Encoding.UTF8.GetBytes("""{"id":42,"email":"a@example.com"}""");
        Directory.CreateDirectory(_data.Path);
        await using (var connection = new SqliteConnection($"Data Source={Options.DatabasePath}"))
        {
            // Schema version 7, as the release before issue 14 left it, with bodies as received.
            await connection.OpenAsync();
            await Migrations.ApplyAsync(connection, default, upTo: 7);
            await SqliteDatabase.ExecuteAsync(connection, """
                INSERT INTO deliveries (id, event, body_sha256, conversation_id, seq, received_at, outcome, result, rules_generation, rule_failures)
                VALUES (1, 'convo.status', $sha, 1187, 1, 1764583200000, 'done', '{"statusChanges":[]}', 'g1', 1),
                       (2, 'customer.created', $customerSha, NULL, NULL, 1764583200000, 'skipped', NULL, NULL, 0);
                INSERT INTO delivery_bodies (delivery_id, body) VALUES (1, $wire), (2, $customer);
                INSERT INTO conversations (id, last_applied_seq, status, updated_at) VALUES (1187, 1, 'closed', 1764583200000);
                """.Replace("$customerSha", Hex(SHA256.HashData(customer)), StringComparison.Ordinal)
                   .Replace("$sha", Hex(SHA256.HashData(wire)), StringComparison.Ordinal)
                   .Replace("$wire", Hex(wire), StringComparison.Ordinal)
                   .Replace("$customer", Hex(customer), StringComparison.Ordinal));
        }

        await new SqliteDatabase(Options).InitializeAsync(_log);
        Assert.Equal(0, new FileInfo(Options.DatabasePath + "-wal").Length); // the space the upgrade took in the log is given back

        await WithStorageAsync(async storage =>
        {
            var old = (await storage.GetStoredAsync(1, default))!;
            Assert.Equal(wire, old.Body);
            Assert.Equal(("done", "g1"), (old.Outcome, (await storage.GetAsync(1, default))!.RulesGeneration));
            Assert.Equal(1, Assert.Single(await storage.ListAsync(new DeliveryFilter(RuleFailed: true), default)).Id);
            Assert.True((await storage.StoreAsync(Delivery("convo.status", wire, 1187), default)).Duplicate);
            Assert.True((await storage.StoreAsync(Delivery("customer.created", customer, null), default)).Duplicate);

            var next = Encoding.UTF8.GetBytes("""{"id":1187,"status":"active"}""");
            var stored = await storage.StoreAsync(Delivery("convo.status", next, 1187), default);
            Assert.Equal((3L, 2L), (stored.DeliveryId, stored.Sequence!.Value));
            Assert.Equal(next, (await storage.GetStoredAsync(3, default))!.Body);
            return 0;
        });

        Assert.Contains(_log.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning
            && e.Message.StartsWith($"Upgrading the database {Path.GetFullPath(Options.DatabasePath)} from schema version 7 to {Migrations.LatestVersion}", StringComparison.Ordinal));
        Assert.Contains(_log.Entries, e => e.Message.StartsWith($"Database upgraded to schema version {Migrations.LatestVersion} in ", StringComparison.Ordinal));
        Assert.Equal([(1L, (long)wire.Length, (string?)null), (2L, customer.Length, null)], (await RawBodiesAsync()).Take(2));
        Assert.Equal(BodyEncoding.Deflate, (await RawBodiesAsync())[2].Encoding);
    }

    [Fact]
    public async Task IntentsRecordedBeforeSecretPlaces_ResolveAsTheyDid_AfterTheUpgrade()
    {
        Directory.CreateDirectory(_data.Path);
        await using (var connection = new SqliteConnection($"Data Source={Options.DatabasePath}"))
        {
            // Schema version 11 (0.7.0): intents hold references as text, with no record of where the rule put them.
            await connection.OpenAsync();
            await Migrations.ApplyAsync(connection, default, upTo: 11);
            await SqliteDatabase.ExecuteAsync(connection, """
                INSERT INTO deliveries (id, event, body_sha256, conversation_id, seq, received_at, outcome) VALUES (1, 'convo.status', x'01', 1187, 1, 1764583200000, 'done');
                INSERT INTO action_intents (id, delivery_id, conversation_id, rule, action, arguments, state, created_at)
                VALUES (1, 1, 1187, 'r', 'http', '{"headers":{"Authorization":"Bearer secret://hook"}}', 'pending', 1764583200000),
                       (2, 1, 1188, 'r', 'http', '{"text":"plain"}', 'pending', 1764583200000);
                """);
        }

        await new SqliteDatabase(Options).InitializeAsync(_log);
        var due = await WithStorageAsync(storage => storage.DueForTestAsync());

        Assert.Equal([(1L, (string?)SecretPlaces.Legacy), (2L, null)], due.Select(i => (i.Id, i.SecretPlaces)));
        var store = new FreeScoutRules.Engine.Actions.SecretStore(new Dictionary<string, string> { ["hook"] = "v" });
        Assert.Equal("""{"headers":{"Authorization":"Bearer v"}}""", store.Resolve(due[0].Arguments, due[0].SecretPlaces).Arguments);
    }

    [Fact]
    public async Task ANewDatabase_IsCreatedWithoutAnUpgradeWarning()
    {
        await WithStorageAsync(_ => Task.FromResult(0));

        Assert.DoesNotContain(_log.Entries, e => e.Message.Contains("schema version", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TheTimerLoopsQueries_AreARangeOfThePendingTimersIndex_NotAScanOfEveryTimer(bool dueBefore)
    {
        await WithStorageAsync(_ => Task.FromResult(0));
        await using var connection = await new SqliteDatabase(Options).OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + DeliveryQueries.TimersSql(new TimerFilter(DueBefore: dueBefore ? DateTimeOffset.UnixEpoch : null, Limit: 500));
        command.Parameters.AddWithValue("$before", 1);
        command.Parameters.AddWithValue("$limit", 500);

        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(3));
            }
        }

        Assert.Contains(plan, step => step.Contains("USING INDEX ix_timers_due", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.StartsWith("SCAN timers", StringComparison.Ordinal) && !step.Contains("INDEX", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RetentionCandidates_AreARangeOfTheReceiptTimeIndex_NotASortOfEveryDoneDelivery(bool withoutPendingIntents)
    {
        await WithStorageAsync(_ => Task.FromResult(0));
        await using var connection = await new SqliteDatabase(Options).OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + DeliveryQueries.ProcessedSql(withoutPendingIntents);
        foreach (var name in new[] { "$from", "$fromId", "$before", "$limit" })
        {
            command.Parameters.AddWithValue(name, 1);
        }

        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(3));
            }
        }

        Assert.Contains(plan, step => step.Contains("USING INDEX ix_deliveries_received (received_at>? AND received_at<?)", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.Contains("TEMP B-TREE", StringComparison.Ordinal));
    }

    [Fact]
    public void ABodyThatDoesNotDecode_FailsWithAClearError()
    {
        var unknown = Assert.Throws<InvalidDataException>(() => BodyEncoding.Decode([1, 2, 3], "zstd"));
        Assert.Contains("encoding 'zstd'", unknown.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<InvalidDataException>(() => BodyEncoding.Decode([0xFF, 0xFF, 0xFF, 0xFF], BodyEncoding.Deflate));
        Assert.Equal("raw"u8.ToArray(), BodyEncoding.Decode(BodyEncoding.Compress("raw"u8.ToArray()), BodyEncoding.Deflate));
    }

    [Fact]
    public void BodiesThatDoNotCompress_RoundTripToo()
    {
        // The worst inputs for DEFLATE's fastest level: random bytes, and text of bytes at or above 144
        // (9-bit literals), about 1 MB (the default body limit): their output is up to an eighth larger,
        // more than a pooled buffer of the next power of two above 1,000,000 bytes holds.
        var random = new byte[1_000_000];
        new Random(14).NextBytes(random);
        var high = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 333_000).Select(i => (char)(0x4E00 + ((i * 7919) % 20_000)))));

        foreach (var raw in new[] { random, high, [] })
        {
            var compressed = BodyEncoding.Compress(raw);
            Assert.Equal(raw, BodyEncoding.Decode(compressed, BodyEncoding.Deflate));
        }
    }

    private static string Hex(byte[] bytes) => "X'" + Convert.ToHexString(bytes) + "'";
}
