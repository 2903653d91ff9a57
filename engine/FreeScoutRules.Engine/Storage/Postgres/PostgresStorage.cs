using System.Data;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// The PostgreSQL implementation of the storage ports (issue 22; docs/design.md, "The PostgreSQL mapping of each port
/// operation"): every operation is one short transaction on a pooled connection (READ COMMITTED), owning nothing across
/// transactions but the fenced claims and leases of the schema, so that any number of instances share one database.
/// Times are the store's <see cref="TimeProvider"/>'s, passed as parameters (never the database's clock): instances'
/// clocks must agree (NTP), and lease times leave margin for what they may differ by. Thread-safe. Storage errors reach
/// callers as <see cref="StorageException"/> naming host, port and database (never the password); serialization
/// failures, deadlocks and broken connections are retried a bounded number of times when nothing was committed.
/// </summary>
internal sealed partial class PostgresStorage
    : IInbox, IDeliveryHistory, IOutbox, ITimers, IRuleGenerationLog, IStorageLifetime, IRetentionStore, IReconciliationStore, ILeases, IAsyncDisposable
{
    /// <summary>Attempts of one transaction that failed without committing, transiently (a serialization failure, a deadlock, a broken connection).</summary>
    internal const int MaxAttempts = 3;

    private readonly PostgresDatabase _database;
    private readonly bool _ownsDatabase;
    private readonly TimeProvider _time;
    private readonly WorkHints? _hints;
    private readonly ILogger _logger;
    private readonly WriteGate _writes = new();
    private readonly SweepCursor _sweep = new();
    private readonly RecentConversations _recent = new();
    private readonly PrefetchedWork _prefetched = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly WorkListener? _listener;

    /// <summary>This store's mark on its own notifications, which its listener then leaves out (it announced them in-process).</summary>
    private readonly string _origin = Guid.NewGuid().ToString("N")[..12];

    private long _commits;
    private int _disposed;
    private long _retries;
    private long _sizeBytes;

    /// <param name="database">The database (its pooled data source); not disposed with the store.</param>
    /// <param name="time">The store's clock: leases, claims, due times and retention are compared and written by it.</param>
    /// <param name="hints">Where committed pending work is announced (this process's, and other instances' through <c>LISTEN</c> while <see cref="RunAsync"/> runs); none for the CLI.</param>
    /// <param name="logger">The store's log.</param>
    public PostgresStorage(PostgresDatabase database, TimeProvider? time, WorkHints? hints, ILogger<PostgresStorage> logger)
        : this(database, ownsDatabase: false, time, hints, logger)
    {
    }

    /// <param name="connectionString">The database's connection string (<c>ConnectionStrings:Postgres</c>).</param>
    /// <param name="time">The store's clock.</param>
    /// <param name="hints">Where committed pending work is announced.</param>
    /// <param name="logger">The store's log.</param>
    public PostgresStorage(string connectionString, TimeProvider? time, WorkHints? hints, ILogger<PostgresStorage> logger)
        : this(new PostgresDatabase(connectionString), ownsDatabase: true, time, hints, logger)
    {
    }

    private PostgresStorage(PostgresDatabase database, bool ownsDatabase, TimeProvider? time, WorkHints? hints, ILogger<PostgresStorage> logger)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(logger);
        _database = database;
        _ownsDatabase = ownsDatabase;
        _time = time ?? TimeProvider.System;
        _hints = hints;
        _logger = logger;
        _listener = hints is null ? null : new WorkListener(database, hints, _origin, logger);
    }

    /// <summary>Host, port and database (never the password).</summary>
    public string Location => _database.Where;

    /// <summary>The transactions committed and retried; notifications from other instances turned into wake-ups.</summary>
    public IReadOnlyList<StorageMeasure> Measures =>
    [
        new("freescout_rules.storage.commits", "Transactions the store committed (each one its own: PostgreSQL groups the commits of concurrent transactions itself).", () => Interlocked.Read(ref _commits), "{commit}", IsCounter: true),
        new("freescout_rules.storage.retries", "Transactions tried again after a serialization failure, a deadlock or a broken connection, before anything was committed.", () => Interlocked.Read(ref _retries), "{transaction}", IsCounter: true),
        new("freescout_rules.storage.notifications", "Work announced by other instances (LISTEN fsr_work) and passed on to dispatch as wake-ups.", () => _listener?.Received ?? 0, "{notification}", IsCounter: true),
    ];

    /// <summary>The database's size (<c>pg_database_size</c>), read at the start and every minute while <see cref="RunAsync"/> runs.</summary>
    public long SizeBytes => Interlocked.Read(ref _sizeBytes);

    public string? InstallationId { get; private set; }

    /// <summary>For tests: completes once the listener of other instances' work listens (<c>null</c> without hints).</summary>
    internal Task? Listening => _listener?.Listening;

    /// <summary>Migrates the schema (once, under its advisory lock, whoever starts first) and reads the installation's id.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _database.InitializeAsync(_logger, cancellationToken);
        InstallationId = await ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT installation_id FROM installation WHERE id = 1", connection);
                return await command.ExecuteScalarAsync(ct) as string;
            },
            cancellationToken);
        await RefreshSizeAsync(cancellationToken);
    }

    /// <summary>
    /// Listens for other instances' work (when the store announces hints) and refreshes <see cref="SizeBytes"/> until
    /// <see cref="Complete"/>; then waits for the writes in flight, and ends.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var loops = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var listening = _listener?.RunAsync(loops.Token) ?? Task.CompletedTask;
        var sizing = RefreshSizeEveryMinuteAsync(loops.Token);
        try
        {
            await _writes.Drained.WaitAsync(cancellationToken);
        }
        finally
        {
            await loops.CancelAsync();
            await Task.WhenAll(listening, sizing);
        }
    }

    /// <summary>Takes no more writes (they fail with <see cref="StorageException.Stopping"/>); <see cref="RunAsync"/> ends once those in flight are done.</summary>
    public void Complete()
    {
        _writes.Complete();
        if (Volatile.Read(ref _disposed) == 0)
        {
            _stopping.Cancel();
        }
    }

    /// <summary>
    /// Completes and lets go of the database (when the store opened it). Once: the container disposes the store once per
    /// port it was resolved as (each registration's factory returns it), and a second call does nothing.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Complete();
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Dispose();
        if (_ownsDatabase)
        {
            await _database.DisposeAsync();
        }
    }

    private async Task RefreshSizeEveryMinuteAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromMinutes(1), _time, cancellationToken);
                try
                {
                    await RefreshSizeAsync(cancellationToken);
                }
                catch (StorageException)
                {
                    // Unreachable for now: the size shown stays the last one read, and the operations say why.
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task RefreshSizeAsync(CancellationToken cancellationToken)
    {
        var size = await ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT pg_database_size(current_database())", connection);
                return (long)(await command.ExecuteScalarAsync(ct))!;
            },
            cancellationToken);
        Interlocked.Exchange(ref _sizeBytes, size);
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one READ COMMITTED transaction and commits it, unless the work threw (a refusal:
    /// <see cref="ClaimLostException"/>; nothing is written). Two round trips at least (the statements, then <c>COMMIT</c>):
    /// for work whose statements can be sent at once, <see cref="SubmitAsync"/> takes one. A transient failure before the
    /// commit (serialization, deadlock, a connection broken or terminated) runs it again from the start, up to
    /// <see cref="MaxAttempts"/> times; a broken connection during the commit is not (whether it committed is unknown) and
    /// surfaces as a <see cref="StorageException"/>.
    /// </summary>
    private Task<T> WriteAsync<T>(Func<Transaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        RunWriteAsync(
            async (connection, sent, ct) =>
            {
                await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct);
                var result = await work(new Transaction(connection, transaction), ct);
                sent.Value = true;
                await transaction.CommitAsync(ct);
                return result;
            },
            cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/>: one statement, or one batch, on a pooled connection without an explicit transaction.
    /// PostgreSQL runs it as one implicit transaction, committed as it ends: one round trip, where <see cref="WriteAsync"/>
    /// takes two (the statements, then <c>COMMIT</c>). So the statements refuse by themselves (<c>fsr_refuse</c>, with a
    /// SQLSTATE of <see cref="Refusals"/>: nothing of the batch is then written), and the work maps the refusal it expects to
    /// its exception. Run again, up to <see cref="MaxAttempts"/> times, only when nothing was committed: the database said
    /// so (a serialization failure, a deadlock, the session ended before it ran the batch), or no connection could be
    /// opened. A connection that broke with the batch sent is not run again, as the batch may have committed with its
    /// answer lost (a repeat would find the delivery done, the claim released, a failure counted twice): a
    /// <see cref="StorageException"/>, whose caller's retry meets dedupe or a refusal, as after a failed <c>COMMIT</c>.
    /// </summary>
    private Task<T> SubmitAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        RunWriteAsync(
            (connection, sent, ct) =>
            {
                sent.Value = true;
                return work(connection, ct);
            },
            cancellationToken);

    /// <summary>
    /// A write's attempts on pooled connections, while the store takes writes. An attempt sets its flag once what it sends
    /// may commit; a transient failure is run again unless it came after that, from the connection rather than the
    /// database (which says with its error that nothing was committed).
    /// </summary>
    private async Task<T> RunWriteAsync<T>(Func<NpgsqlConnection, StrongBox<bool>, CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        if (!_writes.TryEnter())
        {
            throw new StorageException($"{Location}: the store is stopping and takes no more writes.", new OperationCanceledException(), stopping: true);
        }

        try
        {
            for (var number = 1; ; number++)
            {
                var sent = new StrongBox<bool>();
                try
                {
                    await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
                    var result = await attempt(connection, sent, cancellationToken);
                    Interlocked.Increment(ref _commits);
                    return result;
                }
                catch (NpgsqlException ex) when (number < MaxAttempts && IsTransient(ex) && (!sent.Value || ex is PostgresException))
                {
                    await BeforeRetryAsync(ex, number, cancellationToken);
                }
                catch (NpgsqlException ex)
                {
                    if (sent.Value && ex is not PostgresException && IsTransient(ex))
                    {
                        _database.DataSource.Clear(); // broken: its idle siblings in the pool are probably gone too
                    }

                    throw Failed(ex);
                }
            }
        }
        finally
        {
            _writes.Exit();
        }
    }

    /// <summary>Runs a read on a pooled connection (no transaction: one statement, or statements that need no common snapshot); transient failures are retried.</summary>
    private async Task<T> ReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
                return await read(connection, cancellationToken);
            }
            catch (NpgsqlException ex) when (attempt < MaxAttempts && IsTransient(ex))
            {
                await BeforeRetryAsync(ex, attempt, cancellationToken);
            }
            catch (NpgsqlException ex)
            {
                throw Failed(ex);
            }
        }
    }

    /// <summary>
    /// Serialization failures and deadlocks (another transaction won: the same work again succeeds or is refused by its
    /// conditions), and failures of the connection itself (terminated by the server, broken, a restart): transient. Not a
    /// timeout: the database did not answer for seconds (a partition, an overload), and trying again would only make the
    /// caller wait as long again before it hears so.
    /// </summary>
    private static bool IsTransient(NpgsqlException exception) =>
        exception is PostgresException postgres
            ? postgres.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
                or PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
            : exception.IsTransient && exception.InnerException is not TimeoutException;

    private async Task BeforeRetryAsync(NpgsqlException exception, int attempt, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _retries);
        LogRetrying(_logger, exception, _database.Where, attempt, MaxAttempts);
        if (exception is not PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected })
        {
            // The connection went (terminated, or the server restarted): its idle siblings in the pool are probably gone too.
            _database.DataSource.Clear();
        }

        // A short pause, different for each transaction, so that those that collided do not collide again at once.
        await Task.Delay(TimeSpan.FromMilliseconds((10 * attempt) + Random.Shared.Next(20)), cancellationToken);
    }

    private StorageException Failed(NpgsqlException exception) => new($"{_database.Where}: {exception.Message}", exception);

    /// <summary>
    /// The SQLSTATEs the store's statements raise (<c>fsr_refuse</c>, migration 4) to refuse a write sent in one round trip
    /// (<see cref="SubmitAsync"/>): the implicit transaction rolls back, and the work turns the error into its refusal.
    /// </summary>
    internal static class Refusals
    {
        /// <summary>The conversation's claim is not the writer's (detail: the holder, or empty, and the epoch).</summary>
        public const string ClaimLost = "FSR01";

        /// <summary>The delivery is no longer pending (detail: its id).</summary>
        public const string NotPending = "FSR02";

        /// <summary>A copy of the delivery was committed while this one waited for its conversation's row: it was turned away.</summary>
        public const string CopyStored = "FSR03";
    }

    /// <summary>One transaction of a write, as <see cref="WriteAsync"/> runs it.</summary>
    private sealed class Transaction(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        public NpgsqlCommand Command(string sql) => new(sql, connection, transaction);

        public NpgsqlBatch Batch(params string[] statements) => NewBatch(connection, transaction, statements);
    }

    /// <summary>A batch of <paramref name="statements"/>, in <paramref name="transaction"/> or, without one, as one implicit transaction (<see cref="SubmitAsync"/>).</summary>
    private static NpgsqlBatch NewBatch(NpgsqlConnection connection, NpgsqlTransaction? transaction, params string[] statements)
    {
        var batch = new NpgsqlBatch(connection, transaction);
        foreach (var statement in statements)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(statement));
        }

        return batch;
    }

    /// <summary>Where the next sweep for pending work starts (after this conversation id), so that sweeps go round every conversation with a backlog.</summary>
    private sealed class SweepCursor
    {
        public int After { get; set; } = int.MinValue;
    }

    /// <summary>
    /// The writes in flight: taken until <see cref="Complete"/>, refused after it; <see cref="Drained"/> completes once it
    /// was called and the last write in flight ended.
    /// </summary>
    private sealed class WriteGate
    {
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _count = 1; // the gate's own, given up by Complete
        private int _completed;

        public Task Drained => _drained.Task;

        public bool TryEnter()
        {
            while (true)
            {
                var count = Volatile.Read(ref _count);
                if (count == 0 || Volatile.Read(ref _completed) == 1)
                {
                    return false;
                }

                if (Interlocked.CompareExchange(ref _count, count + 1, count) == count)
                {
                    return true;
                }
            }
        }

        public void Exit()
        {
            if (Interlocked.Decrement(ref _count) == 0)
            {
                _drained.TrySetResult();
            }
        }

        public void Complete()
        {
            if (Interlocked.Exchange(ref _completed, 1) == 0)
            {
                Exit();
            }
        }
    }

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "{Where}: a transaction failed before it committed ({Attempt} of {MaxAttempts}); trying it again")]
    private static partial void LogRetrying(ILogger logger, Exception exception, string where, int attempt, int maxAttempts);
}
