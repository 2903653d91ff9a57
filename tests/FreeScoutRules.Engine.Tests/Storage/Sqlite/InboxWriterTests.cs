using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Logging.Abstractions;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

public sealed class InboxWriterTests : IAsyncLifetime
{
    private readonly TempDirectory _data = new();
    private readonly CancellationTokenSource _stop = new();
    private SqliteDatabase _database = null!;
    private InboxWriter _writer = null!;
    private DeliveryQueries _queries = null!;
    private Task _loop = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        var options = new SqliteOptions { DataDirectory = _data.Path };
        _database = new SqliteDatabase(options);
        await _database.InitializeAsync();
        _writer = new InboxWriter(_database, options, NullLogger<InboxWriter>.Instance);
        _queries = new DeliveryQueries(_database);
        _loop = _writer.RunAsync(_stop.Token);
    }

    public async Task DisposeAsync()
    {
        _writer.Complete();
        await _loop;
        _stop.Dispose();
        _data.Dispose();
    }

    private static StoreDeliveryOperation Store(Delivery delivery, byte[]? body = null)
    {
        body ??= Encoding.UTF8.GetBytes($"{{\"id\":{delivery.ConversationId},\"at\":\"{delivery.UpdatedAt:O}\"}}");
        return new StoreDeliveryOperation(new NewDelivery(delivery.Event, body, SHA256.HashData(body), delivery.ConversationId, delivery.ReceivedAt));
    }

    [Fact]
    public async Task Store_AssignsSequencePerConversation_AndRecognisesTheSameEventAndBytes()
    {
        var a1 = await _writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, 1, conversationId: 1)));
        var b1 = await _writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, 1, conversationId: 2)));
        var a2 = await _writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Active, 2, conversationId: 1)));
        var again = await _writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Active, 2, conversationId: 1)));
        var otherEvent = await _writer.SubmitAsync(Store(Deliveries.Of(Events.AgentReplyCreated, Status.Active, 2, conversationId: 1)));

        Assert.Equal((1L, 1L, 2L), (a1.Sequence!.Value, b1.Sequence!.Value, a2.Sequence!.Value));
        Assert.True(again.Duplicate);
        Assert.Equal(a2.DeliveryId, again.DeliveryId);
        Assert.False(otherEvent.Duplicate);
        Assert.Equal(3, otherEvent.Sequence);
        Assert.Equal(4, await _queries.CountAsync(DeliveryOutcome.Pending));
    }

    [Fact]
    public async Task Committed_CountsTheTransactionsAndTheOperationsTheyHeld()
    {
        var before = _writer.Committed;
        await Task.WhenAll(Enumerable.Range(1, 5).Select(i => _writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, 1, conversationId: 100 + i)))));
        var after = _writer.Committed;

        Assert.Equal(5, after.Operations - before.Operations);
        Assert.InRange(after.Commits - before.Commits, 1, 5);
    }

    [Fact]
    public async Task Batch_OneFailingOperation_DoesNotUndoTheOthers()
    {
        var delivery = Deliveries.Of(Events.ConversationStatus, Status.Closed, 1);
        var stored = await _writer.SubmitAsync(Store(delivery));
        var commit = new EvaluationCommit(
            stored.DeliveryId, 1187, 1, DateTimeOffset.UtcNow, "generation", new NextState(1187, Status.Closed, delivery.UpdatedAt), [], [],
            new DeliveryResult([], [], [], false))
        {
            Claim = await _writer.ClaimForTestAsync(1187),
        };

        var first = _writer.SubmitAsync(new ApplyEvaluationOperation(commit));
        var twice = _writer.SubmitAsync(new ApplyEvaluationOperation(commit));
        var other = _writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, 1, conversationId: 9)));

        Assert.False(await first); // committed (it did not release the claim: it was not asked to)
        var refused = await Assert.ThrowsAsync<DeliveryNotPendingException>(() => twice);
        Assert.Contains("processed already", refused.Message, StringComparison.Ordinal);
        Assert.False((await other).Duplicate);
        Assert.Equal("done", (await _queries.GetAsync(stored.DeliveryId))!.Outcome);
        Assert.Equal(Status.Closed, (await _queries.GetConversationStateAsync(1187, DateTimeOffset.MinValue)).Known!.Status);
    }

    [Fact]
    public async Task Batch_OperationThatFailsHalfway_LeavesNoTraceAndTheOthersCommit()
    {
        var before = Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, 1, conversationId: 21));
        var broken = new HalfWriteThenThrow();
        var after = Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, 1, conversationId: 22));

        var tasks = new[] { _writer.SubmitAsync(before), _writer.SubmitAsync(broken), _writer.SubmitAsync(after) };
        await Assert.ThrowsAsync<IOException>(() => tasks[1]);

        Assert.False((await (Task<StoreResult>)tasks[0]).Duplicate);
        Assert.False((await (Task<StoreResult>)tasks[2]).Duplicate);
        Assert.Equal(2, await _queries.CountAsync(DeliveryOutcome.Pending));
        Assert.Null((await _queries.GetConversationStateAsync(99, DateTimeOffset.MinValue)).Known);
    }

    [Fact]
    public async Task SqliteError_ReachesTheCallerAsStorageErrorNamingTheFile_AndLeavesNoTrace()
    {
        await using (var connection = await _database.OpenAsync())
        {
            // SQLite itself refuses the write (as it would a full disk or a corrupt page), after the sequence was taken.
            await SqliteDatabase.ExecuteAsync(connection, """
                CREATE TRIGGER refuse_31 BEFORE INSERT ON deliveries WHEN NEW.conversation_id = 31
                BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END;
                """);
        }

        var tasks = new[] { 30, 31, 32 }.Select(id => _writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, 1, conversationId: id)))).ToArray();
        var error = await Assert.ThrowsAsync<StorageException>(() => tasks[1]);

        Assert.StartsWith(_database.Path + ": ", error.Message, StringComparison.Ordinal);
        Assert.Contains("simulated I/O error", error.Message, StringComparison.Ordinal);
        Assert.False((await tasks[0]).Duplicate);
        Assert.False((await tasks[2]).Duplicate);
        Assert.Equal([30, 32], (await _queries.ListAsync(new DeliveryFilter(Outcome: DeliveryOutcome.Pending))).Select(d => d.ConversationId!.Value).Order());
        Assert.Null((await _queries.GetConversationStateAsync(31, DateTimeOffset.MinValue)).Known);
    }

    /// <summary>Writes a conversation row, then fails like a full disk would.</summary>
    private sealed class HalfWriteThenThrow : WriteOperation<StoreResult>
    {
        protected override StoreResult Run(WriterSession session)
        {
            session.Execute("INSERT INTO conversations (id, last_applied_seq, status, updated_at) VALUES (99, 1, 'closed', 0)");
            throw new IOException("disk full");
        }
    }

    [Theory]
    [InlineData(20, 1, 60)] // checkpoints every 20 pages: the log never grows far past them
    [InlineData(1000, 300, int.MaxValue)] // ~450 pages written, no checkpoint yet: the log holds them all
    public async Task Checkpoints_KeepTheLogNearTheConfiguredSize(int checkpointPages, int minLogPages, int maxLogPages)
    {
        using var data = new TempDirectory();
        var options = new SqliteOptions { DataDirectory = data.Path, CheckpointPages = checkpointPages };
        var database = new SqliteDatabase(options);
        await database.InitializeAsync();
        var writer = new InboxWriter(database, options, NullLogger<InboxWriter>.Instance);
        var loop = writer.RunAsync(CancellationToken.None);
        var body = new byte[7_000];
        for (var i = 0; i < 150; i++)
        {
            // One commit each, about three pages each (a 7 KB body and its rows).
            BitConverter.TryWriteBytes(body, i);
            await writer.SubmitAsync(Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, i % 60, conversationId: i + 1), [.. body]));
        }

        // The log file keeps its high-water mark: about CheckpointPages plus one commit when checkpoints run.
        var logPages = new FileInfo(database.Path + "-wal").Length / 4096;
        writer.Complete();
        await loop;

        Assert.InRange(logPages, minLogPages, maxLogPages);
    }

    [Fact]
    public async Task Sequences_AreReadFromTheStore_NotKeptByAWriter()
    {
        // Two writer sessions, as two processes on one store would be: each goes on from the other's last sequence.
        using var one = new WriterSession(await _database.OpenAsync());
        using var other = new WriterSession(await _database.OpenAsync());
        long StoreOne(WriterSession session, int conversationId, int second)
        {
            using var transaction = session.Connection.BeginTransaction();
            session.Transaction = transaction;
            var operation = Store(Deliveries.Of(Events.ConversationStatus, Status.Closed, second, conversationId: conversationId));
            operation.Execute(session);
            transaction.Commit();
            session.Transaction = null;
            operation.Committed();
            return operation.Task.Result.Sequence!.Value;
        }

        long[] sequences = [StoreOne(one, 1, 1), StoreOne(other, 1, 2), StoreOne(one, 2, 1), StoreOne(one, 1, 3), StoreOne(other, 2, 2)];

        Assert.Equal([1L, 2L, 1L, 3L, 2L], sequences);
    }

    [Fact]
    public async Task Migrations_AreIdempotent_AndANewerSchemaIsRefused()
    {
        await _database.InitializeAsync();
        await using var connection = await _database.OpenAsync();
        Assert.Equal(Migrations.LatestVersion, await Migrations.CurrentVersionAsync(connection, default));

        await SqliteDatabase.ExecuteAsync(connection, $"PRAGMA user_version = {Migrations.LatestVersion + 1};");
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => _database.InitializeAsync());

        Assert.Contains("newer than this FreeScoutRules knows", ex.Message, StringComparison.Ordinal);
    }
}
