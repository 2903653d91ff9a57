using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// The embedded SQLite implementation of the storage ports: one database file in WAL mode, reads on
/// pooled connections, every write through the single writer (<see cref="InboxWriter"/>, group
/// commit). Thread-safe. Storage errors reach callers as <see cref="StorageException"/> (the writer
/// converts its own; reads are guarded here).
/// </summary>
internal sealed partial class SqliteStorage : IInbox, IDeliveryHistory, IOutbox, ITimers, IRuleGenerationLog, IStorageLifetime, IRetentionStore, IReconciliationStore, ILeases
{
    private readonly SqliteDatabase _database;
    private readonly InboxWriter _writer;
    private readonly DeliveryQueries _deliveries;
    private readonly OutboxQueries _outbox;
    private readonly ReconciliationQueries _reconciliation;
    private readonly LeaseQueries _leases;
    private readonly WorkHints? _hints;
    private readonly TimeProvider _time;
    private readonly SweepCursor _sweep = new();
    private readonly RecentConversations _recent = new();
    private readonly PendingPrefetch _prefetch;
    private readonly ILogger _logger;
    private readonly SqliteOptions _options;
    private readonly bool _readOnly;
    private readonly Lock _lockGate = new();
    private DataDirectoryLock? _lock;

    /// <remarks>options: Where the database is and how it commits.</remarks>
    /// <remarks>readOnly: Open an existing database without writing to it (replay, explain).</remarks>
    /// <remarks>hints: Where committed pending work is announced (dispatch's wake-ups); none for the CLI.</remarks>
    /// <remarks>time: The store's clock (leases and claims expire by it).</remarks>
    public SqliteStorage(SqliteOptions options, ILogger<InboxWriter> logger, bool readOnly = false, WorkHints? hints = null, TimeProvider? time = null)
        : this(options, logger, readOnly, hints, time, SqliteMutation.None)
    {
    }

    /// <summary>For the contract suite's mutation test only: the store with deliberate breaks (<see cref="SqliteMutation"/>).</summary>
    internal SqliteStorage(SqliteOptions options, ILogger<InboxWriter> logger, bool readOnly, WorkHints? hints, TimeProvider? time, SqliteMutation mutations)
    {
        _hints = hints;
        _prefetch = new PendingPrefetch(_recent);
        _time = time ?? TimeProvider.System;
        _leases = new LeaseQueries(_database = new SqliteDatabase(options, readOnly));
        _options = options;
        _readOnly = readOnly;
        _writer = new InboxWriter(_database, options, logger, mutations);
        _logger = logger;
        _deliveries = new DeliveryQueries(_database);
        _outbox = new OutboxQueries(_database);
        _reconciliation = new ReconciliationQueries(_database);
    }

    public string Location => _database.Path;

    /// <summary>Test-only: see <see cref="SqliteDatabase.KeptStatementObserver"/>; set it before the writer starts.</summary>
    internal Action<string>? KeptStatementObserver
    {
        get => _database.KeptStatementObserver;
        set => _database.KeptStatementObserver = value;
    }

    /// <summary>Read connections kept open between reads now (<see cref="ReaderPool"/>).</summary>
    internal int KeptReaders => _database.Readers.Idle;

    /// <summary>Test-only: see <see cref="SqliteDatabase.StatementObserver"/>; set it before the writer starts.</summary>
    internal Action<string>? StatementObserver
    {
        get => _database.StatementObserver;
        set => _database.StatementObserver = value;
    }

    /// <summary>
    /// For the CLI verbs, which never migrate a server's database: what is wrong with its schema version
    /// (older: start <c>serve</c> once to upgrade it; newer: a newer release wrote it), or <c>null</c> when it fits.
    /// </summary>
    public string? SchemaProblem()
    {
        var version = _database.SchemaVersion();
        return version == Migrations.LatestVersion
            ? null
            : version < Migrations.LatestVersion
                ? $"{_database.Path}: the database is at schema version {version}, this freescout-rules reads version {Migrations.LatestVersion}; start `serve` once on it to upgrade it (docs/deploy.md, \"Upgrading\")."
                : $"{_database.Path}: the database is at schema version {version}, newer than this freescout-rules knows ({Migrations.LatestVersion}); use the release that wrote it.";
    }

    /// <summary>The single writer's queue and group commits.</summary>
    public IReadOnlyList<StorageMeasure> Measures =>
    [
        new("freescout_rules.storage.write_queue", "Write operations waiting for the single writer.", () => _writer.QueueLength),
        new("freescout_rules.storage.commits", "Transactions the single writer committed (each one fsync when durable and it changed something; polls and lease renewals count too).", () => _writer.Committed.Commits, "{commit}", IsCounter: true),
        new("freescout_rules.storage.committed_operations", "Write operations committed; divided by the commits, the group-commit size.", () => _writer.Committed.Operations, "{operation}", IsCounter: true),
    ];

    public long SizeBytes =>
        new[] { _database.Path, _database.Path + "-wal" }.Select(p => new FileInfo(p)).Where(f => f.Exists).Sum(f => f.Length);

    public async Task<(int Pruned, RetentionCursor? Last)> PruneBodiesAsync(RetentionCursor? after, DateTimeOffset before, int batch, CancellationToken cancellationToken)
    {
        // A first pass (after a start) begins at the oldest body still stored, not at the oldest record:
        // months of records whose bodies went long ago would otherwise be walked again after every restart.
        after ??= await Guard(() => _deliveries.BeforeOldestBodyAsync(cancellationToken));
        if (after is null)
        {
            return (0, null);
        }

        var candidates = await Guard(() => _deliveries.ProcessedAsync(after, before, batch, withoutPendingIntents: false, cancellationToken));
        if (candidates.Count == 0)
        {
            return (0, null);
        }

        var pruned = await _writer.SubmitAsync(new PruneBodiesOperation([.. candidates.Select(c => c.Id)]), cancellationToken);
        return (pruned, candidates[^1]);
    }

    public async Task<int> PruneRecordsAsync(DateTimeOffset before, int batch, CancellationToken cancellationToken)
    {
        var candidates = await Guard(() => _deliveries.ProcessedAsync(null, before, batch, withoutPendingIntents: true, cancellationToken));
        return candidates.Count == 0
            ? 0
            : await _writer.SubmitAsync(new PruneRecordsOperation([.. candidates.Select(c => c.Id)]), cancellationToken);
    }

    /// <summary>The installation's id (part of every new intent's idempotency key), read once the schema is there.</summary>
    public string? InstallationId { get; private set; }

    /// <summary>Takes the data directory's lock (once; <see cref="StoreInUseException"/> when another process has it), then creates or migrates the schema.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (!_readOnly)
        {
            lock (_lockGate)
            {
                _lock ??= DataDirectoryLock.Acquire(_options.DataDirectory);
            }
        }

        try
        {
            await Guard(() => _database.InitializeAsync(_logger, cancellationToken));
            if (!_readOnly)
            {
                // This process holds the data directory now, so every instance the table knows is gone (a crash, a kill):
                // their leases end at once, and with them their claims, rather than when they would have expired.
                foreach (var (id, name) in await Guard(() => _database.EndInstancesAsync(_time.GetUtcNow(), cancellationToken)))
                {
                    LogInstanceEnded(_logger, id, name);
                }
            }

            InstallationId = await Guard(() => _outbox.InstallationIdAsync(cancellationToken));
        }
        catch
        {
            ReleaseLock();
            throw;
        }
    }

    /// <summary>Runs the writer; the data directory's lock goes when it ends.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _writer.RunAsync(cancellationToken);
        }
        finally
        {
            _database.Readers.Close();
            ReleaseLock();
        }
    }

    private void ReleaseLock()
    {
        lock (_lockGate)
        {
            _lock?.Dispose();
            _lock = null;
        }
    }

    public void Complete() => _writer.Complete();

    public Task<StoreResult> StoreAsync(NewDelivery delivery, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new StoreDeliveryOperation(delivery, _hints, _recent, _prefetch), cancellationToken);

    public Task<IReadOnlyList<ConversationClaim>> ClaimAsync(InstanceLease holder, IReadOnlyCollection<int>? conversations, int limit, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new ClaimConversationsOperation(holder.Id, conversations, limit, _time.GetUtcNow(), conversations is null ? _sweep : null, _prefetch), cancellationToken);

    public async Task<IReadOnlyList<StoredDelivery>> LoadPendingAsync(ConversationClaim claim, int limit, CancellationToken cancellationToken) =>
        _prefetch.Take(claim, limit)
        ?? [.. (await Guard(() => _deliveries.LoadPendingAsync(claim.ConversationId, limit, cancellationToken))).Select(d => d with { Parsed = _recent.Take(d.Id) })];

    public Task<bool> ReleaseAsync(ConversationClaim claim, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new ReleaseConversationOperation(claim, _prefetch), cancellationToken);

    public Task<InstanceLease> JoinAsync(string name, TimeSpan leaseTime, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new JoinOperation(name, _time.GetUtcNow(), leaseTime), cancellationToken);

    public Task<bool> RenewAsync(InstanceLease instance, TimeSpan leaseTime, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new RenewInstanceOperation(instance.Id, _time.GetUtcNow(), leaseTime), cancellationToken);

    public Task LeaveAsync(InstanceLease instance, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new LeaveOperation(instance.Id, _time.GetUtcNow()), cancellationToken);

    public Task RecordRulesAsync(InstanceLease instance, string generation, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new RecordRulesOperation(instance.Id, generation), cancellationToken);

    public Task<IReadOnlyList<InstanceRecord>> ListInstancesAsync(DateTimeOffset since, CancellationToken cancellationToken) =>
        Guard(() => _leases.ListInstancesAsync(since, _time.GetUtcNow(), cancellationToken));

    public Task<NamedLease?> TryAcquireAsync(string name, InstanceLease holder, TimeSpan leaseTime, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new AcquireLeaseOperation(name, holder.Id, _time.GetUtcNow(), leaseTime), cancellationToken);

    public Task ReleaseAsync(NamedLease lease, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new ReleaseLeaseOperation(lease, _time.GetUtcNow()), cancellationToken);

    public Task<IReadOnlyList<NamedLease>> ListLeasesAsync(CancellationToken cancellationToken) =>
        Guard(() => _leases.ListLeasesAsync(cancellationToken));

    public Task<StoredDelivery?> GetStoredAsync(long deliveryId, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.GetStoredAsync(deliveryId, cancellationToken));

    public Task<StoredDelivery?> LoadSnapshotAsync(int conversationId, long beforeSequence, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.LoadSnapshotAsync(conversationId, beforeSequence, cancellationToken));

    public Task<StoreResult?> FireAsync(TimerFiring firing, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new FireTimerOperation(firing, _hints, _prefetch), cancellationToken);

    public Task<long> CountPendingAsync(CancellationToken cancellationToken) =>
        Guard(() => _deliveries.CountPendingTimersAsync(cancellationToken));

    public Task<KnownConversation> LoadConversationAsync(int conversationId, DateTimeOffset intentsSince, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.GetConversationStateAsync(conversationId, intentsSince, cancellationToken));

    public Task<bool> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new ApplyEvaluationOperation(commit, _prefetch), cancellationToken);

    public Task RecordFailureAsync(DeliveryFailure failure, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new RecordFailureOperation(failure, _prefetch), cancellationToken);

    public Task<bool> RequeueAsync(long deliveryId, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new RequeueOperation(deliveryId, _hints, _prefetch), cancellationToken);

    public Task<DeliveryRecord?> GetAsync(long deliveryId, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.GetAsync(deliveryId, cancellationToken));

    public async Task<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryFilter filter, CancellationToken cancellationToken) =>
        await Guard(() => _deliveries.ListAsync(filter, cancellationToken));

    public async Task<IReadOnlyDictionary<string, long>> CountByOutcomeAsync(CancellationToken cancellationToken) =>
        await Guard(() => _deliveries.CountByOutcomeAsync(cancellationToken));

    public Task<byte[]?> GetBodyAsync(long deliveryId, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.GetBodyAsync(deliveryId, cancellationToken));

    public Task<RuleFailureSummary> RuleFailuresAsync(DateTimeOffset since, int scan, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.RuleFailuresAsync(since, scan, cancellationToken));

    public Task<Activity> ActivityAsync(DateTimeOffset deliveriesSince, DateTimeOffset changesSince, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.ActivityAsync(deliveriesSince, changesSince, cancellationToken));

    public Task<IReadOnlyList<RuleGenerationRecord>> ListGenerationsAsync(int limit, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.ListGenerationsAsync(limit, cancellationToken));

    public Task<IReadOnlyList<ConversationMatch>> FindConversationsAsync(int idOrNumber, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.FindConversationsAsync(idOrNumber, cancellationToken));

    public Task<long> CountAsync(string outcome, CancellationToken cancellationToken) =>
        Guard(() => _deliveries.CountAsync(outcome, cancellationToken));

    public Task<OutboxStats> StatsAsync(CancellationToken cancellationToken) =>
        Guard(() => _outbox.StatsAsync(cancellationToken));

    public async Task<IReadOnlyList<StoredTimer>> ListAsync(TimerFilter filter, CancellationToken cancellationToken) =>
        await Guard(() => _deliveries.ListTimersAsync(filter, cancellationToken));

    public async Task<IReadOnlyList<StoredDelivery>> LoadHistoryAsync(int? conversationId, CancellationToken cancellationToken) =>
        await Guard(() => _deliveries.LoadHistoryAsync(conversationId, cancellationToken));

    public Task<ClaimedIntents> ClaimDueAsync(InstanceLease holder, IntentSlots slots, IReadOnlySet<string> unordered, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new ClaimIntentsOperation(holder.Id, slots, unordered, _time.GetUtcNow()), cancellationToken);

    public async Task<IReadOnlyList<IntentRecord>> ListAsync(long? deliveryId, string? state, int limit, CancellationToken cancellationToken) =>
        await Guard(() => _outbox.ListAsync(deliveryId, state, limit, cancellationToken));

    public Task RecordAttemptAsync(AttemptCommit attempt, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new RecordAttemptOperation(attempt), cancellationToken);

    public Task<bool> ReleaseAsync(IntentClaim claim, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new ReleaseIntentOperation(claim), cancellationToken);

    public Task<bool> RetryDeadAsync(long intentId, DateTimeOffset now, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new RetryDeadIntentOperation(intentId, now), cancellationToken);

    public Task RecordAsync(string contentHash, DateTimeOffset at, bool loaded, int rules, string? diagnostics, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new RecordGenerationOperation(contentHash, at, loaded, rules, diagnostics), cancellationToken);

    public Task<DateTimeOffset?> LoadWatermarkAsync(CancellationToken cancellationToken) =>
        Guard(() => _reconciliation.LoadWatermarkAsync(cancellationToken));

    public Task AdvanceWatermarkAsync(DateTimeOffset watermark, DateTimeOffset at, NamedLease lease, CancellationToken cancellationToken) =>
        _writer.SubmitAsync(new AdvanceWatermarkOperation(watermark, at, lease), cancellationToken);

    public Task<IReadOnlyDictionary<int, DateTimeOffset>> KnownUpdatedAtAsync(IReadOnlyCollection<int> conversationIds, CancellationToken cancellationToken) =>
        Guard(() => _reconciliation.KnownUpdatedAtAsync(conversationIds, cancellationToken));

    /// <summary>SQLite's own errors (disk full, locked, corrupt) reach the engine as <see cref="StorageException"/>.</summary>
    private async Task Guard(Func<Task> operation)
    {
        try
        {
            await operation();
        }
        catch (SqliteException ex)
        {
            throw _database.Failed(ex);
        }
    }

    private async Task<T> Guard<T>(Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (SqliteException ex)
        {
            throw _database.Failed(ex);
        }
    }

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Instance {InstanceId} ({Name}) ended without leaving (a crash or a kill): its claims are this process's to take now; what it left pending is processed from here")]
    private static partial void LogInstanceEnded(ILogger logger, long instanceId, string name);
}
