using System.Collections.Concurrent;
using System.Text;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// The reads every delivery and timer firing makes run on kept connections with their statements prepared
/// (<see cref="ReaderPool"/>): opened once, not for every read (an open runs the connection's settings, and each
/// statement was parsed and planned anew: docs/benchmarks.md §15), at most <see cref="ReaderPool.Kept"/> kept, closed
/// when the store stops, and a read that fails leaves the next one working.
/// </summary>
public sealed class ReaderPoolTests : IAsyncDisposable
{
    private readonly TempDirectory _data = new();
    private readonly ConcurrentBag<string> _statements = [];
    private SqliteStorage _storage = null!;
    private Task _writer = Task.CompletedTask;

    private async Task StartAsync()
    {
        _storage = new SqliteStorage(new SqliteOptions { DataDirectory = _data.Path, Durable = false }, NullLogger<InboxWriter>.Instance)
        {
            StatementObserver = _statements.Add,
        };
        await _storage.InitializeAsync(default);
        _writer = _storage.RunAsync(default);
        await _storage.StoreAsync(new NewDelivery("convo.created", Encoding.UTF8.GetBytes("{\"id\":1187}"), new byte[32], 1187, DateTimeOffset.UnixEpoch), default);
    }

    [Fact]
    public async Task ReadsOneAfterAnother_OpenOneConnection_AndRunItsSettingsOnce()
    {
        await StartAsync();
        var opensBefore = Opens();

        for (var i = 0; i < 50; i++)
        {
            var state = await _storage.LoadConversationAsync(1187, DateTimeOffset.UnixEpoch, default);
            Assert.Equal(1187, state.ConversationId);
            Assert.Null(await _storage.LoadSnapshotAsync(1187, 10, default)); // nothing processed yet
        }

        // One kept connection for all of them (each open runs the settings: 50 reads once opened 50 times).
        Assert.InRange(Opens() - opensBefore, 0, 1);
        Assert.Equal(1, _storage.KeptReaders);
    }

    [Fact]
    public async Task ManyReadsAtOnce_KeepAtMostTheBound_AndStoppingTheStoreClosesThem()
    {
        await StartAsync();

        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() => _storage.LoadConversationAsync(1187, DateTimeOffset.UnixEpoch, default))));

        Assert.InRange(_storage.KeptReaders, 1, ReaderPool.Kept);
        _storage.Complete();
        await _writer;
        Assert.Equal(0, _storage.KeptReaders);
    }

    [Fact]
    public async Task AReadThatFails_LeavesTheNextOneWorking_OnTheSameConnection()
    {
        await StartAsync();
        var stored = await _storage.LoadPendingAsync(new ConversationClaim(1187, 0, 0), 10, default);
        var opensBefore = Opens();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _storage.GetStoredAsync(stored[0].Id, new CancellationToken(canceled: true)));

        var again = await _storage.GetStoredAsync(stored[0].Id, default);
        Assert.Equal("{\"id\":1187}", Encoding.UTF8.GetString(again!.Body!));
        Assert.InRange(Opens() - opensBefore, 0, 1);
    }

    private int Opens() => _statements.Count(s => s.StartsWith("PRAGMA busy_timeout", StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        _storage?.Complete();
        await _writer;
        _data.Dispose();
    }
}
