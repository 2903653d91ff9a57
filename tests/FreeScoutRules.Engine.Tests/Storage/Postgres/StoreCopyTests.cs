using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Storage.Contract;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Events = FreeScoutRules.FreeScout.WebhookEvents;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>
/// <c>storage copy</c> (issue 22): a SQLite data directory written by the engine through its ports (deliveries with
/// bodies, known states, status changes, intents with attempts and keys, one left claimed as a stopped server leaves it,
/// timers pending and fired, rule generations, the watermark) copied into a new PostgreSQL database, which the PostgreSQL
/// store then reads the same through its ports and goes on from; and the copy all or nothing: refused on a target that is
/// not empty, on a schema it does not know, rolled back when the target refuses a row half-way.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class StoreCopyTests(PostgresCluster cluster) : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    /// <summary>Each table's key, to read both sides in one order.</summary>
    private static readonly Dictionary<string, string> Keys = new(StringComparer.Ordinal)
    {
        ["installation"] = "id", ["rule_generations"] = "id", ["deliveries"] = "id", ["delivery_bodies"] = "delivery_id", ["conversations"] = "id",
        ["status_changes"] = "id", ["action_intents"] = "id", ["action_attempts"] = "id", ["timers"] = "conversation_id, name", ["reconciliation"] = "id",
    };

    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(T0);
    private int _bodies;

    private string DataDirectory => _directory.Path;

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task ARealDataDirectory_IsCopiedAsStored_AndThePostgresStoreReadsTheSame_AndGoesOnFromIt()
    {
        var source = await FillAsync();
        var target = await cluster.CreateDatabaseAsync();

        var progress = new List<StoreCopyProgress>();
        var report = await CopyAsync(target, progress.Add);

        // Every table, column by column, as the source stores it (bodies byte for byte, with their encoding), but the
        // claims: the copy starts with nobody holding anything.
        foreach (var table in StoreCopyMap.Tables.Where(t => t.Name != "conversations"))
        {
            var columns = table.Written.Select(c => c.Name).ToList();
            Assert.Equal(await SqliteRowsAsync(table.Name, columns), await PostgresRowsAsync(target, table.Name, columns));
        }

        Assert.Equal(
            [
                "1187|2|1|closed|1796115540000|∅|1",   // processed up to 1, a note pending at 2
                "1188|2|1|closed|1796115540000|∅|1",   // its timer fired: the firing pending at 2
                "1190|1|0|∅|∅|∅|0",                     // stored, never claimed: no row in SQLite; made so that sequences and claims go on
            ],
            await PostgresRowsAsync(target, "conversations", ["id", "last_seq", "last_applied_seq", "status", "updated_at", "claim_instance", "claim_epoch"]));
        Assert.Equal(
            ["∅|∅|∅"], (await PostgresRowsAsync(target, "action_intents", ["claim_instance", "claim_token", "claimed_at"])).Distinct());
        Assert.Equal(1, await SqliteScalarAsync<long>("SELECT COUNT(*) FROM action_intents WHERE claim_token IS NOT NULL")); // one was held in the source
        Assert.Equal(0L, await PostgresScalarAsync<long>(target, "SELECT COUNT(*) FROM instances") + await PostgresScalarAsync<long>(target, "SELECT COUNT(*) FROM leases"));

        // The report: every table counted on both sides, each reported done once, sequences past the copied ids.
        Assert.Equal(StoreCopyMap.Tables.Select(t => t.Name), report.Counts.Select(c => c.Table));
        Assert.All(report.Counts, c => Assert.Equal(c.Source, c.Target));
        Assert.Equal(6, report.Counts.Single(c => c.Table == "deliveries").Target);
        Assert.Equal(StoreCopyMap.Tables.Select(t => t.Name), progress.Where(p => p.Done).Select(p => p.Table));
        Assert.Equal(await SqliteScalarAsync<long>("SELECT MAX(id) FROM deliveries") + 1, report.NextIds["deliveries.id"]);
        Assert.Equal(source.InstallationId, report.InstallationId);

        await using var running = await RunningPostgresStorage.StartAsync(target, _time);
        var store = StorePorts.Of(running.Storage);

        // The same history, known state, installation, outbox, timers, watermark and generations, through the ports.
        Assert.Equal(source.InstallationId, running.Storage.InstallationId);
        Assert.Equal(source.History, Describe(await store.History.LoadHistoryAsync(null, default)));
        Assert.Equal(source.Records, (await store.History.ListAsync(new DeliveryFilter(PageSize: 100), default)).Select(Describe));
        Assert.Equal(Encoding.UTF8.GetBytes(source.LegacyBody), await store.History.GetBodyAsync(source.LegacyBodyDelivery, default));
        Assert.Equal(source.Outcomes, await store.History.CountByOutcomeAsync(default));
        Assert.Equal(source.Known, (await store.Inbox.LoadConversationAsync(1187, T0.AddDays(-1), default)).Known);
        Assert.Equal(source.Intents, (await store.Outbox.ListAsync(null, null, 100, default)).Select(Describe));
        Assert.Equal(source.Timers, await store.Timers.ListAsync(new TimerFilter(State: null), default));
        Assert.Equal(T0.AddHours(-1), await store.Reconciliation.LoadWatermarkAsync(default));
        Assert.Equal(source.Generations, await store.Generations.ListGenerationsAsync(10, default));

        // Pending work is claimable at once (nobody holds it), in its sequence.
        var instance = await store.Leases.JoinAsync("postgres-1", TimeSpan.FromDays(1), default);
        var claims = await store.Inbox.ClaimAsync(instance, null, 10, default);
        Assert.Equal([1187, 1188, 1190], claims.Select(c => c.ConversationId).Order());
        var pending = Assert.Single(await store.Inbox.LoadPendingAsync(claims.Single(c => c.ConversationId == 1187), 10, default));
        Assert.Equal((source.PendingNote, 2L, Events.NoteCreated), (pending.Id, pending.Sequence, pending.Event));

        // The intent held when the server stopped is due at once, the failed one when its retry comes, each with its key.
        var slots = new IntentSlots(10, 10, new Dictionary<string, int>());
        var due = (await store.Outbox.ClaimDueAsync(instance, slots, new HashSet<string>(), default)).Intents;
        Assert.Equal([(source.HeldIntent, source.Keys[source.HeldIntent])], due.Select(i => (i.Id, i.IdempotencyKey)));
        _time.Advance(TimeSpan.FromMinutes(5));
        due = (await store.Outbox.ClaimDueAsync(instance, slots, new HashSet<string>(), default)).Intents;
        Assert.Equal([(source.RetriedIntent, source.Keys[source.RetriedIntent])], due.Select(i => (i.Id, i.IdempotencyKey)));
        Assert.Equal("fsr-intent-7", source.Keys[source.RetriedIntent]); // its key as stored, from before schema 13
        Assert.Equal($"fsr-{source.InstallationId}-{source.HeldIntent}", source.Keys[source.HeldIntent]);

        // The pending timer fires once due, as the conversation's next delivery; new deliveries take the next sequence
        // of their conversation and ids past the copied ones.
        _time.Advance(TimeSpan.FromHours(1));
        var fired = await store.Timers.FireAsync(new TimerFiring(1187, "survey", 1, T0.AddHours(1), _time.GetUtcNow(), "survey"), default);
        Assert.Equal(3, fired!.Sequence);
        var next = await StoreAsync(store, 1190);
        var fresh = await StoreAsync(store, 1191);
        Assert.Equal((2L, 1L), (next.Sequence!.Value, fresh.Sequence!.Value));
        Assert.Equal(report.NextIds["deliveries.id"], fired.DeliveryId);
        Assert.True(next.DeliveryId > fired.DeliveryId && fresh.DeliveryId > next.DeliveryId);

        // A new intent's key is of the installation's family, its id past the copied ones.
        var claim = Assert.Single(await store.Inbox.ClaimAsync(instance, [1191], 10, default));
        await store.Inbox.CommitEvaluationAsync(Commit(claim, fresh, intents: [new ActionIntent("notify", "http", 1191, "{}")]), default);
        var intent = Assert.Single(await store.Outbox.ListAsync(fresh.DeliveryId, null, 10, default));
        Assert.Equal(report.NextIds["action_intents.id"], intent.Id);
        Assert.Equal($"fsr-{source.InstallationId}-{intent.Id}", intent.IdempotencyKey);
    }

    [Fact]
    public async Task ATargetThatIsNotEmpty_IsRefused_AndKeepsWhatItHad()
    {
        await FillAsync();
        var target = await cluster.CreateDatabaseAsync();
        string installation;
        await using (var running = await RunningPostgresStorage.StartAsync(target, _time))
        {
            installation = running.Storage.InstallationId!;
            await StoreAsync(StorePorts.Of(running.Storage), 42);
        }

        var refused = await Assert.ThrowsAsync<StoreCopyException>(() => CopyAsync(target));

        Assert.Equal(StoreCopyFailure.BadTarget, refused.Failure);
        Assert.Contains("is not empty (deliveries, delivery_bodies, conversations hold rows)", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was written", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["1|42|1"], await PostgresRowsAsync(target, "deliveries", ["id", "conversation_id", "seq"]));
        Assert.Equal([installation], await PostgresRowsAsync(target, "installation", ["installation_id"]));
    }

    [Fact]
    public async Task ARowTheTargetRefusesHalfWay_RollsTheWholeCopyBack()
    {
        await FillAsync();
        // An attempt's error with a NUL character (a receiver's answer quoted in it): SQLite keeps any text, PostgreSQL refuses
        // NUL in text, as the last-but-two table is copied, after the deliveries, bodies, conversations and intents.
        await SqliteExecuteAsync("UPDATE action_attempts SET error = 'bad' || char(0) || 'byte' WHERE outcome = 'failed'");
        var target = await cluster.CreateDatabaseAsync();
        await using (var database = new PostgresDatabase(target))
        {
            await database.InitializeAsync(cancellationToken: default);
        }

        var before = await PostgresRowsAsync(target, "installation", ["installation_id"]);
        var progress = new List<StoreCopyProgress>();

        var failed = await Assert.ThrowsAsync<StoreCopyException>(() => CopyAsync(target, progress.Add));

        Assert.Equal(StoreCopyFailure.Failed, failed.Failure);
        Assert.Contains("nothing of it was written", failed.Message, StringComparison.Ordinal);
        Assert.Contains("COPY action_attempts, line 1, column error", failed.Message, StringComparison.Ordinal); // where, as PostgreSQL says it
        Assert.Contains("action_intents", progress.Where(p => p.Done).Select(p => p.Table)); // copied, then rolled back
        foreach (var table in StoreCopyMap.Tables.Select(t => t.Name).Where(t => t != "installation"))
        {
            Assert.Equal(0L, await PostgresScalarAsync<long>(target, $"SELECT COUNT(*) FROM {table}"));
        }

        Assert.Equal(before, await PostgresRowsAsync(target, "installation", ["installation_id"]));
        await using var running = await RunningPostgresStorage.StartAsync(target, _time);
        Assert.Equal(1, (await StoreAsync(StorePorts.Of(running.Storage), 1187)).DeliveryId); // sequences untouched too
    }

    [Fact]
    public async Task AColumnTheCopyDoesNotKnow_IsRefused_BeforeAnythingIsWritten()
    {
        await FillAsync();
        await SqliteExecuteAsync("ALTER TABLE timers ADD COLUMN snoozed_until INTEGER");
        var target = await cluster.CreateDatabaseAsync();

        var refused = await Assert.ThrowsAsync<StoreCopyException>(() => CopyAsync(target));

        Assert.Equal(StoreCopyFailure.Failed, refused.Failure);
        Assert.Contains("the source's column timers.snoozed_until is not known to the copy", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await PostgresScalarAsync<long>(target, "SELECT COUNT(*) FROM deliveries"));
    }

    [Fact]
    public async Task ASourceThatIsMissing_InUse_OrOfAnotherSchema_IsRefused_SayingWhy()
    {
        var error = new StringWriter();
        Assert.Null(await OpenSourceAsync(error));
        Assert.Contains("freescout-rules.db: no database here", error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(DataDirectory, "freescout-rules.db")));

        await FillAsync();
        using (var held = DataDirectoryLock.Acquire(DataDirectory))
        {
            error = new StringWriter();
            Assert.Null(await OpenSourceAsync(error));
            Assert.Contains($"is in use by a running freescout-rules process (PID {Environment.ProcessId}): stop it first", error.ToString(), StringComparison.Ordinal);
        }

        await SqliteExecuteAsync($"PRAGMA user_version = {Migrations.LatestVersion - 1}");
        error = new StringWriter();
        Assert.Null(await OpenSourceAsync(error));
        Assert.Contains($"is at schema version {Migrations.LatestVersion - 1}, this freescout-rules reads version {Migrations.LatestVersion}; start `serve` once on it", error.ToString(), StringComparison.Ordinal);

        await SqliteExecuteAsync($"PRAGMA user_version = {Migrations.LatestVersion + 1}");
        error = new StringWriter();
        Assert.Null(await OpenSourceAsync(error));
        Assert.Contains("newer than this freescout-rules knows", error.ToString(), StringComparison.Ordinal);

        // Each refusal gave the directory's lock back.
        DataDirectoryLock.Acquire(DataDirectory).Dispose();
    }

    // ---- The source: what a SQLite server leaves in its data directory ----

    /// <summary>
    /// Writes a history through the SQLite store's ports as a server would, then stops it: conversation 1187 closed (its
    /// state, a status change, intents to two destinations, a survey timer in an hour) with a note pending after it; 1188
    /// closed with a reminder timer that fired (its firing pending) and an intent still held by the server when it stopped;
    /// 1190 stored but never claimed; a customer event; attempts (one failed and due again in 5 minutes, one dead); two
    /// rule generations; the reconciliation watermark. One intent keeps a key from before schema 13, one body the bytes as
    /// received (before schema 8). Returns what the SQLite store reads back through its ports.
    /// </summary>
    private async Task<Source> FillAsync()
    {
        long note, retried, held, legacyBody;
        await using (var running = await RunningStorage.StartAsync(DataDirectory, time: _time))
        {
            var store = StorePorts.Of(running.Storage);
            var server = await store.Leases.JoinAsync("sqlite-server", TimeSpan.FromMinutes(30), default);
            await store.Generations.RecordAsync("first", T0.AddDays(-1), loaded: true, 3, null, default);
            await store.Generations.RecordAsync("second", T0, loaded: false, 0, "rules/a.csx(1,1): error CS1002: ; expected", default);

            var close = await StoreAsync(store, 1187, new string('x', 4000)); // compressed as stored
            var claim = Assert.Single(await store.Inbox.ClaimAsync(server, [1187], 10, default));
            await store.Inbox.CommitEvaluationAsync(
                Commit(claim, close, intents: [new ActionIntent("notify", "http", 1187, "{\"text\":\"closed\"}"), new ActionIntent("notify", "slack", 1187, "{}")],
                    destinations: ["hooks.example.com", null], timers: [new TimerChange("survey", "survey", 1187, T0.AddHours(1))]),
                default);
            note = (await StoreAsync(store, 1187, eventName: Events.NoteCreated)).DeliveryId;

            var other = await StoreAsync(store, 1188);
            legacyBody = other.DeliveryId;
            claim = Assert.Single(await store.Inbox.ClaimAsync(server, [1188], 10, default));
            await store.Inbox.CommitEvaluationAsync(
                Commit(claim, other, intents: [new ActionIntent("notify", "mailer", 1188, "{}")], timers: [new TimerChange("survey", "reminder", 1188, T0.AddMinutes(1))]) with
                {
                    Release = true,
                },
                default);
            await StoreAsync(store, 1190);
            await StoreAsync(store, null, eventName: Events.CustomerCreated);

            _time.Advance(TimeSpan.FromMinutes(2));
            Assert.NotNull(await store.Timers.FireAsync(new TimerFiring(1188, "reminder", 1, T0.AddMinutes(1), _time.GetUtcNow(), "survey"), default));

            var due = (await store.Outbox.ClaimDueAsync(server, new IntentSlots(10, 10, new Dictionary<string, int>()), new HashSet<string>(), default)).Intents;
            Assert.Equal(["http", "slack", "mailer"], due.Select(i => i.Action));
            retried = due[0].Id;
            held = due[2].Id;
            await store.Outbox.RecordAttemptAsync(
                new AttemptCommit(due[0].Claim, 1, _time.GetUtcNow(), TimeSpan.FromMilliseconds(12.5), AttemptOutcome.Failed, "503 from hooks.example.com", IntentState.Pending,
                    _time.GetUtcNow().AddMinutes(5)),
                default);
            await store.Outbox.RecordAttemptAsync(
                new AttemptCommit(due[1].Claim, 1, _time.GetUtcNow(), TimeSpan.FromMilliseconds(3), AttemptOutcome.Failed, "no such channel", IntentState.Dead, null), default);

            var lease = (await store.Leases.TryAcquireAsync("reconciliation", server, TimeSpan.FromMinutes(1), default))!;
            await store.Reconciliation.AdvanceWatermarkAsync(T0.AddHours(-1), _time.GetUtcNow(), lease, default);
        }

        // What older schemas left, which the copy keeps as stored: a key an intent may already have been sent with, and a
        // body kept uncompressed.
        await SqliteExecuteAsync($"UPDATE action_intents SET idempotency_key = 'fsr-intent-7' WHERE id = {retried}");
        await SqliteExecuteAsync($"UPDATE delivery_bodies SET body = CAST('{LegacyBodyText}' AS BLOB), encoding = NULL WHERE delivery_id = {legacyBody}");

        var reader = new SqliteStorage(new SqliteOptions { DataDirectory = DataDirectory }, Microsoft.Extensions.Logging.Abstractions.NullLogger<InboxWriter>.Instance, readOnly: true, time: _time);
        await reader.InitializeAsync(default);
        var sqlite = StorePorts.Of(reader);
        var intents = await sqlite.Outbox.ListAsync(null, null, 100, default);
        return new Source(
            reader.InstallationId!,
            Describe(await sqlite.History.LoadHistoryAsync(null, default)),
            [.. (await sqlite.History.ListAsync(new DeliveryFilter(PageSize: 100), default)).Select(Describe)],
            await sqlite.History.CountByOutcomeAsync(default),
            (await sqlite.Inbox.LoadConversationAsync(1187, T0.AddDays(-1), default)).Known,
            [.. intents.Select(Describe)],
            intents.ToDictionary(i => i.Id, i => i.IdempotencyKey),
            await sqlite.Timers.ListAsync(new TimerFilter(State: null), default),
            await sqlite.Generations.ListGenerationsAsync(10, default),
            note, retried, held, legacyBody, LegacyBodyText);
    }

    private const string LegacyBodyText = "{\"id\":1188,\"status\":\"closed\",\"stored\":\"before schema 8\"}";

    private sealed record Source(
        string InstallationId, List<string> History, List<string> Records, IReadOnlyDictionary<string, long> Outcomes, PriorState? Known,
        List<string> Intents, Dictionary<long, string> Keys, IReadOnlyList<StoredTimer> Timers, IReadOnlyList<RuleGenerationRecord> Generations,
        long PendingNote, long RetriedIntent, long HeldIntent, long LegacyBodyDelivery, string LegacyBody);

    private async Task<StoreResult> StoreAsync(StorePorts store, int? conversation, string? text = null, string eventName = Events.ConversationStatus)
    {
        var body = Encoding.UTF8.GetBytes(
            $"{{\"id\":{conversation?.ToString(CultureInfo.InvariantCulture) ?? "null"},\"n\":{Interlocked.Increment(ref _bodies)},\"text\":\"{text}\"}}");
        return await store.Inbox.StoreAsync(new NewDelivery(eventName, body, SHA256.HashData(body), conversation, _time.GetUtcNow()), default);
    }

    private EvaluationCommit Commit(
        ConversationClaim claim, StoreResult stored, IReadOnlyList<ActionIntent>? intents = null, IReadOnlyList<string?>? destinations = null,
        IReadOnlyList<TimerChange>? timers = null) =>
        new(stored.DeliveryId, claim.ConversationId, stored.Sequence!.Value, _time.GetUtcNow(), "gen-1", new NextState(claim.ConversationId, "closed", T0.AddMinutes(-1)),
            [new StatusChanged(claim.ConversationId, claim.ConversationId + 10_000, "active", "closed", Events.ConversationStatus, T0.AddMinutes(-1), null)],
            intents ?? [], new DeliveryResult([new StatusChangeRecord("active", "closed", Events.ConversationStatus, T0.AddMinutes(-1), null)], ["Close"], [], false), timers,
            destinations)
        {
            Claim = claim,
        };

    private static List<string> Describe(IReadOnlyList<StoredDelivery> history) =>
        [.. history.Select(d => $"{d.Id} {d.Event} {d.ConversationId}#{d.Sequence} {d.Outcome} {d.Attempts} {d.ReceivedAt:O} {Convert.ToHexString(d.Body ?? [])} {d.Result?.ToJson()}")];

    private static string Describe(DeliveryRecord d) =>
        $"{d.Id} {d.Event} {d.ConversationId}#{d.Sequence} {d.ReceivedAt:O} {d.Outcome} {d.Attempts} {d.Error} {d.ProcessedAt:O} {d.RulesGeneration} {d.Result?.ToJson()}";

    private static string Describe(IntentRecord i) =>
        $"{i.Id} {i.DeliveryId} {i.ConversationId} {i.Rule} {i.Action} {i.Arguments} {i.State} {i.Attempts} {i.CreatedAt:O} {i.NextAttemptAt:O} {i.CompletedAt:O} "
        + $"{i.LastError} {i.Destination} {i.IdempotencyKey} {i.SecretPlaces} {i.WaitingFor} [{string.Join("; ", i.AttemptLog)}]";

    // ---- The copy, and both databases read directly ----

    private async Task<StoreCopyReport> CopyAsync(string target, Action<StoreCopyProgress>? progress = null)
    {
        await using var copy = PostgresStoreCopy.To(target);
        await using var source = await OpenSourceAsync(new StringWriter()) ?? throw new InvalidOperationException("the source did not open");
        return await copy.CopyAsync(source, progress, default);
    }

    private Task<IStoreCopySource?> OpenSourceAsync(TextWriter error) =>
        SqliteStorageModule.OpenForCopyAsync(new SqliteOptions { DataDirectory = DataDirectory }, error, default);

    private SqliteConnection OpenSqlite() => new($"Data Source={Path.Combine(DataDirectory, "freescout-rules.db")};Pooling=False");

    private async Task SqliteExecuteAsync(string sql)
    {
        await using var connection = OpenSqlite();
        await connection.OpenAsync();
        await using var command = new SqliteCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<T> SqliteScalarAsync<T>(string sql)
    {
        await using var connection = OpenSqlite();
        await connection.OpenAsync();
        await using var command = new SqliteCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private async Task<List<string>> SqliteRowsAsync(string table, IReadOnlyList<string> columns)
    {
        await using var connection = OpenSqlite();
        await connection.OpenAsync();
        await using var command = new SqliteCommand($"SELECT {string.Join(", ", columns)} FROM {table} ORDER BY {Keys[table]}", connection);
        return await RowsAsync(await command.ExecuteReaderAsync());
    }

    private static async Task<List<string>> PostgresRowsAsync(string connectionString, string table, IReadOnlyList<string> columns)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT {string.Join(", ", columns)} FROM {table} ORDER BY {Keys[table]}", connection);
        return await RowsAsync(await command.ExecuteReaderAsync());
    }

    private static async Task<T> PostgresScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Each row as text, one way for both databases: integers of any width alike, bytes in hex, null as ∅.</summary>
    private static async Task<List<string>> RowsAsync(System.Data.Common.DbDataReader reader)
    {
        await using var _ = reader;
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.GetValue(i) switch
            {
                DBNull => "∅",
                byte[] bytes => Convert.ToHexString(bytes),
                int or long => Convert.ToInt64(reader.GetValue(i), CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
                double value => value.ToString("R", CultureInfo.InvariantCulture),
                var value => Convert.ToString(value, CultureInfo.InvariantCulture),
            })));
        }

        return rows;
    }
}
