using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// The single writer of the database (group commit): operations from many concurrent requests and
/// dispatch workers queue on a bounded channel, and one loop commits whatever has queued up, up to
/// <see cref="SqliteOptions.MaxBatch"/>, in one transaction, so one fsync serves many deliveries.
/// Thread-safe to submit to; start once with <see cref="RunAsync"/>.
/// </summary>
/// <remarks>mutations: Deliberate breaks, for the contract suite's mutation test only (<see cref="SqliteMutation"/>).</remarks>
internal sealed partial class InboxWriter(SqliteDatabase database, SqliteOptions options, ILogger<InboxWriter> logger, SqliteMutation mutations = SqliteMutation.None)
{
    private readonly Channel<WriteOperation> _queue = Channel.CreateBounded<WriteOperation>(
        new BoundedChannelOptions(16_384) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private long _commits;
    private long _operations;

    /// <summary>Operations waiting to be committed.</summary>
    public int QueueLength => _queue.Reader.Count;

    /// <summary>Transactions committed so far, and the operations they held.</summary>
    public (long Commits, long Operations) Committed => (Interlocked.Read(ref _commits), Interlocked.Read(ref _operations));

    /// <summary>Queues <paramref name="operation"/> and returns once it is committed (or failed).</summary>
    /// <exception cref="StorageException">With <see cref="StorageException.Stopping"/>: the writer has stopped.</exception>
    public async Task<T> SubmitAsync<T>(WriteOperation<T> operation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        try
        {
            await _queue.Writer.WriteAsync(operation, cancellationToken);
        }
        catch (ChannelClosedException ex)
        {
            throw new StorageException($"{database.Path}: the store is stopping and takes no more writes.", ex, stopping: true);
        }

        return await operation.Task;
    }

    /// <summary>Stops accepting operations; <see cref="RunAsync"/> commits what is queued, then ends.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>
    /// Runs the writer on a dedicated thread: commits block on fsync, and a blocked thread-pool
    /// thread on a 2-core machine starves Kestrel. Ends once <see cref="Complete()"/> was called and
    /// the queue is drained.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Loop(cancellationToken);
                done.TrySetResult();
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "FreeScoutRules writer",
        };
        thread.Start();
        return done.Task;
    }

    private void Loop(CancellationToken cancellationToken)
    {
        using var session = new WriterSession(database.OpenKeptAsync(cancellationToken).GetAwaiter().GetResult()) { Mutations = mutations };
        session.Execute(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"PRAGMA wal_autocheckpoint={options.CheckpointPages};"));
        var batch = new List<WriteOperation>(options.MaxBatch);
        var failed = new List<bool>(options.MaxBatch);
        while (WaitForWork())
        {
            batch.Clear();
            failed.Clear();
            while (batch.Count < options.MaxBatch && _queue.Reader.TryRead(out var operation))
            {
                batch.Add(operation);
            }

            CommitBatch(session, batch, failed);
        }
    }

    private bool WaitForWork()
    {
        var wait = _queue.Reader.WaitToReadAsync(CancellationToken.None);
        return wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>
    /// Commits a batch in one transaction. An operation may refuse with <see cref="WriteRefusedException"/>
    /// (thrown before it writes anything): it alone fails. Any other error rolls the batch back and
    /// each operation is then tried in a transaction of its own, so one bad write never takes the
    /// others with it, and no savepoint is paid for on the usual path.
    /// </summary>
    private void CommitBatch(WriterSession session, List<WriteOperation> batch, List<bool> failed)
    {
        if (TryCommit(session, batch, failed, out var error))
        {
            Complete(batch, failed);
            return;
        }

        if (batch.Count == 1)
        {
            LogBatchFailed(logger, error, 1);
            batch[0].Fail(AsStorageError(error));
            return;
        }

        foreach (var operation in batch)
        {
            List<WriteOperation> single = [operation];
            List<bool> singleFailed = [];
            if (TryCommit(session, single, singleFailed, out var singleError))
            {
                Complete(single, singleFailed);
            }
            else
            {
                LogBatchFailed(logger, singleError, 1);
                operation.Fail(AsStorageError(singleError));
            }
        }
    }

    private bool TryCommit(WriterSession session, List<WriteOperation> batch, List<bool> failed, out Exception error)
    {
        failed.Clear();
        error = null!;
        try
        {
            using var transaction = session.Connection.BeginTransaction(deferred: false);
            session.Transaction = transaction;
            foreach (var operation in batch)
            {
                try
                {
                    operation.Execute(session);
                    failed.Add(false);
                }
                catch (WriteRefusedException refused)
                {
                    operation.Fail(refused.Reason);
                    failed.Add(true);
                }
            }

            transaction.Commit();
            Interlocked.Increment(ref _commits);
            Interlocked.Add(ref _operations, batch.Count);
            return true;
        }
        catch (Exception ex)
        {
            error = ex;
            return false;
        }
        finally
        {
            session.Transaction = null;
        }
    }

    private void Complete(List<WriteOperation> batch, List<bool> failed)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (!failed[i])
            {
                try
                {
                    batch[i].Committed();
                }
                catch (Exception ex)
                {
                    LogCommittedHookFailed(logger, ex);
                }
            }
        }
    }

    /// <summary>SQLite's own errors (disk full, locked, corrupt) reach the engine as <see cref="StorageException"/>.</summary>
    private Exception AsStorageError(Exception error) =>
        error is Microsoft.Data.Sqlite.SqliteException sqlite ? database.Failed(sqlite) : error;

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Work that follows a commit failed; the write itself is stored")]
    private static partial void LogCommittedHookFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "A write batch of {Count} operations failed to commit; none was stored")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);
}
