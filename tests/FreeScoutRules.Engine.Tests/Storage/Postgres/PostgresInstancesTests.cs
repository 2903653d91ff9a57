using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Events = FreeScoutRules.FreeScout.WebhookEvents;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>
/// What is PostgreSQL's own (issue 22): two stores on one database, as two <c>serve</c> processes, doing the same thing
/// at the same moment; wake-ups between them; sessions the server ends; errors. Each check has a database of its own and
/// both stores read one clock (instances' clocks agree: docs/design.md). The invariants are read back in SQL too.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresInstancesTests(PostgresCluster cluster) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(5);

    private readonly FakeTimeProvider _time = new(T0);
    private string _connectionString = "";
    private RunningPostgresStorage _a = null!;
    private RunningPostgresStorage _b = null!;

    public async Task InitializeAsync()
    {
        _connectionString = await cluster.CreateDatabaseAsync();
        _a = await RunningPostgresStorage.StartAsync(_connectionString, _time);
        _b = await RunningPostgresStorage.StartAsync(_connectionString, _time);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task TwoInstancesStoringIntoOneConversationAtOnce_KeepSequencesGapFree_AndOneCopyOfEachDuplicate()
    {
        // Every delivery arrives at both instances at the same moment (FreeScout retrying through the load balancer).
        var bodies = Enumerable.Range(0, 40).Select(i => $"{{\"id\":1187,\"n\":{i}}}").ToList();

        var stored = await Task.WhenAll(bodies.Select(async body =>
        {
            var both = await Task.WhenAll(StoreAsync(_a, 1187, body), StoreAsync(_b, 1187, body));
            return (Body: body, A: both[0], B: both[1]);
        }));

        Assert.All(stored, s =>
        {
            Assert.Equal(s.A.DeliveryId, s.B.DeliveryId);
            Assert.Single(new[] { s.A, s.B }, r => !r.Duplicate);
        });
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), stored.Select(s => (s.A.Sequence ?? s.B.Sequence)!.Value).Order());
        Assert.Equal((40L, 40L, 40L, 40L), await ScalarsAsync(
            "SELECT COUNT(*), COUNT(DISTINCT seq), MAX(seq), (SELECT last_seq FROM conversations WHERE id = 1187) FROM deliveries WHERE conversation_id = 1187"));
    }

    [Fact]
    public async Task TwoInstancesSweepingAtOnce_NeverClaimOneConversationTwice()
    {
        for (var conversation = 1; conversation <= 60; conversation++)
        {
            await StoreAsync(conversation % 2 == 0 ? _a : _b, conversation);
        }

        var a = await _a.Storage.JoinAsync("a", LeaseTime, default);
        var b = await _b.Storage.JoinAsync("b", LeaseTime, default);
        var claims = new ConcurrentBag<ConversationClaim>();
        for (var round = 0; round < 3; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
            {
                var (store, holder) = i % 2 == 0 ? (_a, a) : (_b, b);
                // Hinted, as the dispatcher asks: not for the conversations it holds already (their lanes take their hints).
                // A claim's limit counts those it holds (a sweep returns them), so hints of every conversation stalled once
                // each held its first 15 in order.
                IReadOnlyCollection<int>? hinted = i % 4 < 2 ? null
                    : [.. Enumerable.Range(1, 60).Except(claims.Where(c => c.InstanceId == holder.Id).Select(c => c.ConversationId))];
                foreach (var claim in await store.Storage.ClaimAsync(holder, hinted, 15, default))
                {
                    claims.Add(claim);
                }
            })));
        }

        // Each conversation went to one holder, at epoch 1 (a holder claiming its own again keeps it unchanged), every one of
        // them to someone, and the table says the same.
        Assert.All(claims.GroupBy(c => c.ConversationId), g => Assert.Single(g.Distinct()));
        Assert.All(claims, c => Assert.Equal(1, c.Epoch));
        Assert.Equal(Enumerable.Range(1, 60), claims.Select(c => c.ConversationId).Distinct().Order());
        Assert.True(claims.Any(c => c.InstanceId == a.Id) && claims.Any(c => c.InstanceId == b.Id), "both instances claimed some");
        foreach (var (conversation, holder, epoch) in await RowsAsync("SELECT id, claim_instance, claim_epoch FROM conversations"))
        {
            Assert.Equal((claims.First(c => c.ConversationId == conversation).InstanceId, 1L), (holder, epoch));
        }
    }

    [Fact]
    public async Task TwoInstancesClaimingTheOutboxAtOnce_NeverClaimOneIntent_NorTheSecondOfAConversationBeforeItsFirst()
    {
        var committer = await _a.Storage.JoinAsync("committer", LeaseTime, default);
        var firsts = new List<long>();
        for (var conversation = 1; conversation <= 20; conversation++)
        {
            var stored = await StoreAsync(_a, conversation);
            var claim = Assert.Single(await _a.Storage.ClaimAsync(committer, [conversation], 1, default));
            await _a.Storage.CommitEvaluationAsync(Commit(claim, stored, [Intent(conversation, "first"), Intent(conversation, "second")]), default);
            firsts.Add((await _a.Storage.ListAsync(stored.DeliveryId, null, 10, default)).Min(i => i.Id));
        }

        var a = await _a.Storage.JoinAsync("a", LeaseTime, default);
        var b = await _b.Storage.JoinAsync("b", LeaseTime, default);
        var claimed = new ConcurrentBag<DueIntent>();
        // Each instance claims one first, so that both hold some whichever way the claims at once fall (a claimer locks
        // every candidate it looks at, and one that runs first on a busy machine may take all that is left).
        foreach (var (store, holder) in new[] { (_a, a), (_b, b) })
        {
            claimed.Add(Assert.Single((await store.Storage.ClaimDueAsync(holder, new IntentSlots(1, 100, new Dictionary<string, int>()), new HashSet<string>(), default)).Intents));
        }

        // Then claims at once from both, until every claimable intent is claimed (one locked by a claim in flight is
        // skipped, and claimed by a later round).
        for (var round = 0; round < 20 && claimed.Count < firsts.Count; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
            {
                var (store, holder) = i % 2 == 0 ? (_a, a) : (_b, b);
                var slots = new IntentSlots(6, 100, new Dictionary<string, int>());
                foreach (var intent in (await store.Storage.ClaimDueAsync(holder, slots, new HashSet<string>(), default)).Intents)
                {
                    claimed.Add(intent);
                }
            })));
        }

        Assert.Equal(claimed.Count, claimed.Select(i => i.Id).Distinct().Count());
        Assert.Equal(firsts, claimed.Select(i => i.Id).Order());
        Assert.All(claimed, i => Assert.NotNull(i.Delivery)); // handed out with their delivery's body
        foreach (var (intent, holder, _) in await RowsAsync("SELECT id, claim_instance, 0 FROM action_intents WHERE claim_token IS NOT NULL"))
        {
            Assert.Equal(claimed.Single(i => i.Id == intent).Claim.InstanceId, holder);
        }
    }

    [Fact]
    public async Task ATimerFiredByTwoInstancesAtOnce_FiresOnce()
    {
        var committer = await _a.Storage.JoinAsync("committer", LeaseTime, default);
        for (var conversation = 1; conversation <= 20; conversation++)
        {
            var stored = await StoreAsync(_a, conversation);
            var claim = Assert.Single(await _a.Storage.ClaimAsync(committer, [conversation], 1, default));
            await _a.Storage.CommitEvaluationAsync(Commit(claim, stored, timers: [new TimerChange("survey", "survey", conversation, T0.AddHours(1))]), default);
        }

        var fired = await Task.WhenAll(Enumerable.Range(1, 20).Select(async conversation =>
        {
            var firing = new TimerFiring(conversation, "survey", 1, T0.AddHours(1), T0.AddHours(1), "survey");
            return await Task.WhenAll(_a.Storage.FireAsync(firing, default), _b.Storage.FireAsync(firing, default));
        }));

        Assert.All(fired, both => Assert.Single(both, r => r is not null));
        Assert.All(fired, both => Assert.Equal(2, both.Single(r => r is not null)!.Sequence));
        var (firings, conversations, notFired, _) = await ScalarsAsync(
            $"""
            SELECT (SELECT COUNT(*) FROM deliveries WHERE event = '{TimerFiring.Event}'),
                   (SELECT COUNT(DISTINCT conversation_id) FROM deliveries WHERE event = '{TimerFiring.Event}'),
                   (SELECT COUNT(*) FROM timers WHERE state <> '{TimerState.Fired}'), 0
            """);
        Assert.Equal((20L, 20L, 0L), (firings, conversations, notFired));
    }

    [Fact]
    public async Task WorkStoredByOneInstance_WakesTheOther_NotItself_AndAgainOnceItsListenerWasCutOff()
    {
        await Task.WhenAll(_a.Storage.Listening!, _b.Storage.Listening!).WaitAsync(TimeSpan.FromSeconds(30));

        var first = await StoreAsync(_a, 1187);
        var second = await StoreAsync(_b, 1188);

        // b: a's delivery (the notification) and its own (in-process), in whichever order they came.
        var woken = new[] { await NextHintAsync(_b), await NextHintAsync(_b) }.OrderBy(h => h.ConversationId).ToList();
        Assert.Equal([(1187, first.DeliveryId), (1188, second.DeliveryId)], woken.Select(h => (h.ConversationId, h.DeliveryId)));
        // a's own notification is left out: its hints are its own delivery (announced in-process) and b's, nothing twice.
        Assert.Equal(first.DeliveryId, (await NextHintAsync(_a)).DeliveryId);
        Assert.Equal(second.DeliveryId, (await NextHintAsync(_a)).DeliveryId);
        Assert.False(_a.Hints.Reader.TryRead(out var extra), $"a was woken twice: {extra}");
        Assert.Equal(1, Measure(_a.Storage, "freescout_rules.storage.notifications"));

        // The server ends the listeners' sessions (pg_terminate_backend): they listen again, and wake-ups flow again.
        Assert.Equal(2L, (await ScalarsAsync(
            $"SELECT COUNT(pg_terminate_backend(pid)), 0, 0, 0 FROM pg_stat_activity WHERE datname = current_database() AND application_name = '{PostgresDatabase.ListenerName(null)}'")).Item1);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (var n = 0; ; n++)
        {
            var again = await StoreAsync(_a, 2000 + n);
            while (_b.Hints.Reader.TryRead(out var hint))
            {
                if (hint.ConversationId >= 2000)
                {
                    Assert.Null(hint.Parsed); // from the notification, not in-process
                    return;
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), deadline.Token);
        }
    }

    [Fact]
    public async Task AStoreOnAMultiplexingConnectionString_Starts_StoresAndIsWokenByAnother()
    {
        // Npgsql's multiplexing needs pooling, which the listener's connection of its own turns off: the listener turns
        // multiplexing off too (it refused to start before), and the pooled operations multiplex.
        await using var multiplexing = await RunningPostgresStorage.StartAsync(_connectionString + ";Multiplexing=true", _time);
        await Task.WhenAll(multiplexing.Storage.Listening!, _a.Storage.Listening!).WaitAsync(TimeSpan.FromSeconds(30));

        var stored = await StoreAsync(_a, 1187);
        Assert.Equal(stored.DeliveryId, (await NextHintAsync(multiplexing)).DeliveryId);
        Assert.False((await StoreAsync(multiplexing, 1188)).Duplicate);
    }

    [Fact]
    public async Task TheConversationItsProducerParsed_GoesToTheLaneOfItsOwnInstance_AnotherReadsTheBody()
    {
        var parsed = new FreeScout.Conversation();
        var bytes = Encoding.UTF8.GetBytes("{\"id\":1187}");
        var stored = await _a.Storage.StoreAsync(new NewDelivery(Events.ConversationStatus, bytes, SHA256.HashData(bytes), 1187, T0) { Parsed = parsed }, default);
        var a = await _a.Storage.JoinAsync("a", LeaseTime, default);
        var b = await _b.Storage.JoinAsync("b", LeaseTime, default);
        var claim = Assert.Single(await _a.Storage.ClaimAsync(a, [1187], 1, default));

        var elsewhere = Assert.Single(await _b.Storage.LoadPendingAsync(claim with { InstanceId = b.Id }, 10, default));
        var here = Assert.Single(await _a.Storage.LoadPendingAsync(claim, 10, default));

        Assert.Equal((stored.DeliveryId, (FreeScout.Conversation?)null, "{\"id\":1187}"), (elsewhere.Id, elsewhere.Parsed, Encoding.UTF8.GetString(elsewhere.Body!)));
        Assert.Same(parsed, here.Parsed);
        Assert.Equal(bytes, here.Body);
    }

    [Fact]
    public async Task SessionsTheServerEnded_AreOpenedAgain_AndTheWriteGoesOn()
    {
        var before = await StoreAsync(_a, 1187);
        await ScalarsAsync("SELECT COUNT(pg_terminate_backend(pid)), 0, 0, 0 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");

        var after = await StoreAsync(_a, 1187);

        Assert.Equal((1L, 2L), (before.Sequence!.Value, after.Sequence!.Value));
        Assert.True(Measure(_a.Storage, "freescout_rules.storage.retries") >= 1, "the write on a terminated session was tried again");
    }

    [Fact]
    public async Task ADeadlock_IsTriedAgainInsideTheStore_AndTheTimerFiresOnce()
    {
        var committer = await _a.Storage.JoinAsync("committer", LeaseTime, default);
        var stored = await StoreAsync(_a, 1187);
        var claim = Assert.Single(await _a.Storage.ClaimAsync(committer, [1187], 1, default));
        await _a.Storage.CommitEvaluationAsync(Commit(claim, stored, timers: [new TimerChange("survey", "survey", 1187, T0.AddHours(1))]), default);

        // Another session holds the timer's row; the firing takes the conversation's row, then waits for the timer's; the
        // other session then asks for the conversation's row: a deadlock, which the server breaks by failing the firing.
        await using var other = new NpgsqlConnection(_connectionString);
        await other.OpenAsync();
        await using var transaction = await other.BeginTransactionAsync();
        await ExecuteAsync(other, "SELECT 1 FROM timers WHERE conversation_id = 1187 FOR UPDATE");
        var firing = _a.Storage.FireAsync(new TimerFiring(1187, "survey", 1, T0.AddHours(1), T0.AddHours(1), "survey"), default);
        await WaitUntilAsync("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        await ExecuteAsync(other, "SELECT 1 FROM conversations WHERE id = 1187 FOR UPDATE");
        await transaction.CommitAsync();

        var fired = await firing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((false, 2L), (fired!.Duplicate, fired.Sequence!.Value));
        Assert.Equal(1, Measure(_a.Storage, "freescout_rules.storage.retries"));
        Assert.Null(await _b.Storage.FireAsync(new TimerFiring(1187, "survey", 1, T0.AddHours(1), T0.AddHours(1), "survey"), default));
    }

    [Fact]
    public async Task AStoreThatCannotReachItsDatabase_FailsWithAStorageError_NamingWhereButNotThePassword()
    {
        var unreachable = new NpgsqlConnectionStringBuilder(_connectionString) { Port = 1, Timeout = 2 };
        await using var storage = new PostgresStorage(unreachable.ConnectionString, _time, null, Microsoft.Extensions.Logging.Abstractions.NullLogger<PostgresStorage>.Instance);

        var failed = await Assert.ThrowsAsync<StorageException>(() => storage.StoreAsync(Delivery(1187, "{}"), default));

        Assert.StartsWith($"PostgreSQL 127.0.0.1:1/{unreachable.Database}: ", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(unreachable.Password!, failed.ToString(), StringComparison.Ordinal);
        Assert.False(failed.Stopping);
    }

    [Fact]
    public async Task AStoppedStore_RefusesWrites_SayingItIsStopping_AndWritesNothing()
    {
        _a.Storage.Complete();

        var refused = await Assert.ThrowsAsync<StorageException>(() => _a.Storage.StoreAsync(Delivery(1187, "{}"), default));

        Assert.True(refused.Stopping);
        Assert.Equal(0, await _b.Storage.CountAsync(DeliveryOutcome.Pending, default));
    }

    private static Task<StoreResult> StoreAsync(RunningPostgresStorage store, int conversation, string? body = null) =>
        store.Storage.StoreAsync(Delivery(conversation, body ?? $"{{\"id\":{conversation},\"n\":\"{Guid.NewGuid():N}\"}}"), default);

    private static NewDelivery Delivery(int conversation, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        return new NewDelivery(Events.ConversationStatus, bytes, SHA256.HashData(bytes), conversation, T0);
    }

    private static ActionIntent Intent(int conversation, string text) => new("notify", "http", conversation, $"{{\"text\":\"{text}\"}}");

    private EvaluationCommit Commit(ConversationClaim claim, StoreResult stored, IReadOnlyList<ActionIntent>? intents = null, IReadOnlyList<TimerChange>? timers = null) =>
        new(stored.DeliveryId, claim.ConversationId, stored.Sequence!.Value, _time.GetUtcNow(), "instances", null, [], intents ?? [],
            new DeliveryResult([], [], [], false), timers)
        {
            Claim = claim,
        };

    /// <summary>The next hint the store announced, waiting for it (a notification takes a moment).</summary>
    private static async Task<WorkHint> NextHintAsync(RunningPostgresStorage store)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await store.Hints.Reader.ReadAsync(deadline.Token);
    }

    private static long Measure(PostgresStorage storage, string name) => storage.Measures.Single(m => m.Name == name).Read();

    /// <summary>The first row of <paramref name="sql"/>, four <c>bigint</c> columns.</summary>
    private async Task<(long, long, long, long)> ScalarsAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (Convert.ToInt64(reader.GetValue(0)), Convert.ToInt64(reader.GetValue(1)), Convert.ToInt64(reader.GetValue(2)), Convert.ToInt64(reader.GetValue(3)));
    }

    /// <summary>The rows of <paramref name="sql"/>, three numeric columns.</summary>
    private async Task<List<(long, long, long)>> RowsAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(long, long, long)>();
        while (await reader.ReadAsync())
        {
            rows.Add((Convert.ToInt64(reader.GetValue(0)), Convert.ToInt64(reader.GetValue(1)), Convert.ToInt64(reader.GetValue(2))));
        }

        return rows;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Waits until <paramref name="sql"/> counts at least one row (a session waiting for a lock).</summary>
    private async Task WaitUntilAsync(string sql)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while ((await ScalarsAsync($"SELECT ({sql}), 0, 0, 0")).Item1 == 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), deadline.Token);
        }
    }
}
