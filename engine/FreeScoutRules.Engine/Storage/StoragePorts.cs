namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// The inbox, and the queue of work (docs/design.md, "Claims and fences"): where ingestion stores deliveries and
/// dispatch claims conversations with pending ones and commits what processing them produced. Implementations give
/// every conversation delivery the next sequence number of its conversation (gap-free, and per conversation in commit
/// order), recognise redeliveries (same event, same bytes), announce committed pending work on <see cref="WorkHints"/>,
/// and commit an evaluation atomically with its done mark under a fenced claim. Thread-safe.
/// </summary>
internal interface IInbox
{
    /// <summary>
    /// Stores <paramref name="delivery"/> durably (or finds the identical earlier one) and returns once it is committed;
    /// a new conversation delivery is then announced as a <see cref="WorkHint"/>. The body's bytes are read before the
    /// task is returned: the caller may reuse their buffer from then on.
    /// </summary>
    Task<StoreResult> StoreAsync(NewDelivery delivery, CancellationToken cancellationToken);

    /// <summary>
    /// Claims conversations with pending deliveries for <paramref name="holder"/>, at most <paramref name="limit"/>: among
    /// <paramref name="conversations"/> (hinted), or the oldest pending ones when <c>null</c> (a sweep). A conversation
    /// nobody holds, or whose holder's lease ended, is claimed with its epoch advanced (a takeover); one the holder has
    /// already comes back with its epoch unchanged; one a live instance holds is left out.
    /// </summary>
    Task<IReadOnlyList<ConversationClaim>> ClaimAsync(InstanceLease holder, IReadOnlyCollection<int>? conversations, int limit, CancellationToken cancellationToken);

    /// <summary>The claimed conversation's pending deliveries with their bodies, in sequence order, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<StoredDelivery>> LoadPendingAsync(ConversationClaim claim, int limit, CancellationToken cancellationToken);

    /// <summary>Releases the claim once the conversation has no pending delivery left; false (the claim kept) while it has.</summary>
    /// <exception cref="ClaimLostException">The claim was lost; nothing was written.</exception>
    Task<bool> ReleaseAsync(ConversationClaim claim, CancellationToken cancellationToken);

    /// <summary>One conversation delivery with its body and result, whatever its outcome, or <c>null</c>.</summary>
    Task<StoredDelivery?> GetStoredAsync(long deliveryId, CancellationToken cancellationToken);

    /// <summary>
    /// The delivery the conversation's known state came from as of sequence <paramref name="beforeSequence"/>
    /// (the newest processed, not stale, not a timer, before it), with its body (<c>null</c> once pruned);
    /// <c>null</c> when there is none: what a firing timer shows as the conversation's latest snapshot.
    /// </summary>
    Task<StoredDelivery?> LoadSnapshotAsync(int conversationId, long beforeSequence, CancellationToken cancellationToken);

    /// <summary>The conversation's known state, with the intents of deliveries received at or after <paramref name="intentsSince"/>.</summary>
    Task<KnownConversation> LoadConversationAsync(int conversationId, DateTimeOffset intentsSince, CancellationToken cancellationToken);

    /// <summary>
    /// Commits an evaluation with the delivery's done mark, under its claim (<see cref="EvaluationCommit.Claim"/>). With
    /// <see cref="EvaluationCommit.Release"/>, the same transaction releases the claim when the conversation has no other
    /// pending delivery; returns whether it did (a lane's last delivery then needs no release of its own).
    /// </summary>
    /// <exception cref="DeliveryNotPendingException">The delivery is not pending; nothing was written.</exception>
    /// <exception cref="ClaimLostException">The claim was lost to a takeover; nothing was written.</exception>
    Task<bool> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken);

    /// <summary>Records a failed attempt under its claim; a parked delivery no longer holds its conversation's sequence.</summary>
    /// <exception cref="ClaimLostException">The claim was lost to a takeover; nothing was written.</exception>
    Task RecordFailureAsync(DeliveryFailure failure, CancellationToken cancellationToken);

    /// <summary>Puts a parked or done delivery back to pending for a re-run (announced as a <see cref="WorkHint"/>). False when it is neither (or unknown).</summary>
    Task<bool> RequeueAsync(long deliveryId, CancellationToken cancellationToken);
}

/// <summary>Read-only views of stored deliveries, for the admin API, <c>replay</c> and <c>explain</c>. Thread-safe.</summary>
internal interface IDeliveryHistory
{
    Task<DeliveryRecord?> GetAsync(long deliveryId, CancellationToken cancellationToken);

    /// <summary>Deliveries matching <paramref name="filter"/>, newest first, one page.</summary>
    Task<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryFilter filter, CancellationToken cancellationToken);

    /// <summary>How many deliveries have each outcome.</summary>
    Task<IReadOnlyDictionary<string, long>> CountByOutcomeAsync(CancellationToken cancellationToken);

    /// <summary>The raw body of any delivery (customer events too), or <c>null</c> when there is none (pruned, or no such delivery).</summary>
    Task<byte[]?> GetBodyAsync(long deliveryId, CancellationToken cancellationToken);

    /// <summary>
    /// The conversations a person may mean by <paramref name="idOrNumber"/>: the one with that id (if any delivery has it),
    /// and the one whose status changes carry it as their ticket number (the number FreeScout shows). FreeScout's ids and
    /// numbers overlap, so both may exist and differ. Empty when neither does.
    /// </summary>
    Task<IReadOnlyList<ConversationMatch>> FindConversationsAsync(int idOrNumber, CancellationToken cancellationToken);

    /// <summary>
    /// Deliveries received per minute since <paramref name="deliveriesSince"/>, and status changes per hour (by the time
    /// FreeScout says they happened) since <paramref name="changesSince"/>: each bucket's start and count, oldest first, empty buckets left out.
    /// </summary>
    Task<Activity> ActivityAsync(DateTimeOffset deliveriesSince, DateTimeOffset changesSince, CancellationToken cancellationToken);

    /// <summary>
    /// How often each rule failed on the deliveries received since <paramref name="since"/>, most failures first, read from
    /// at most the <paramref name="scan"/> newest deliveries with a failure (<see cref="RuleFailureSummary.Truncated"/> when
    /// there were more), for the console.
    /// </summary>
    Task<RuleFailureSummary> RuleFailuresAsync(DateTimeOffset since, int scan, CancellationToken cancellationToken);

    /// <summary>How many deliveries have <paramref name="outcome"/> (cheap for the rare outcomes: parked, pending).</summary>
    Task<long> CountAsync(string outcome, CancellationToken cancellationToken);

    /// <summary>Stored conversation deliveries of every outcome with bodies and results, per conversation in sequence order.</summary>
    Task<IReadOnlyList<StoredDelivery>> LoadHistoryAsync(int? conversationId, CancellationToken cancellationToken);
}

/// <summary>
/// The outbox of action intents, and its queue (docs/design.md, "Actions"): what the action runner claims, attempts and
/// records. An intent is attempted under a claim of its holder's instance lease, fenced by a token. Thread-safe.
/// </summary>
internal interface IOutbox
{
    /// <summary>
    /// Claims pending intents whose time has come for <paramref name="holder"/>, oldest first, each under a new token, as
    /// many as <paramref name="slots"/> has room for. Left out: intents a live instance holds (its lease neither expired
    /// nor left; an intent whose holder's lease ended is due again, with the same idempotency key), intents behind an
    /// earlier pending intent of the same conversation and destination (unless the action is in
    /// <paramref name="unordered"/>, whose intents neither wait nor hold others back): only the oldest pending intent of a
    /// conversation and destination is claimable, so they run in order, one at a time. Nothing is claimed for a holder
    /// whose own lease is no longer alive.
    /// </summary>
    Task<ClaimedIntents> ClaimDueAsync(InstanceLease holder, IntentSlots slots, IReadOnlySet<string> unordered, CancellationToken cancellationToken);

    /// <summary>Intents of one delivery, or in one state, with their attempts; newest first.</summary>
    Task<IReadOnlyList<IntentRecord>> ListAsync(long? deliveryId, string? state, int limit, CancellationToken cancellationToken);

    /// <summary>Records one attempt and the intent's new state in one transaction, and ends its claim.</summary>
    /// <exception cref="ClaimLostException">
    /// The intent is no longer held under <see cref="AttemptCommit.Claim"/> (claimed by another instance since, or
    /// retried by hand): nothing was written, the other holder's attempt stands.
    /// </exception>
    Task RecordAttemptAsync(AttemptCommit attempt, CancellationToken cancellationToken);

    /// <summary>
    /// Gives a claim back without an attempt on record (the attempt did not run to its end): the intent is due again at
    /// once, for anyone. False when the intent is no longer held under that claim (nothing changed).
    /// </summary>
    Task<bool> ReleaseAsync(IntentClaim claim, CancellationToken cancellationToken);

    /// <summary>Puts a dead intent back in line with fresh attempts, claimed by nobody. False when it is not dead.</summary>
    Task<bool> RetryDeadAsync(long intentId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Intents pending and dead, and when the oldest pending one was queued.</summary>
    Task<OutboxStats> StatsAsync(CancellationToken cancellationToken);
}

/// <summary>Retention: what is old enough goes, in small batches. Thread-safe.</summary>
internal interface IRetentionStore
{
    /// <summary>
    /// Deletes the raw bodies of up to <paramref name="batch"/> processed deliveries (done or skipped, no
    /// pending intent) received before <paramref name="before"/>, oldest first, after <paramref name="after"/>;
    /// returns how many, and the last delivery looked at (where the next batch starts), <c>null</c> when none was left.
    /// </summary>
    Task<(int Pruned, RetentionCursor? Last)> PruneBodiesAsync(RetentionCursor? after, DateTimeOffset before, int batch, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes up to <paramref name="batch"/> processed deliveries received before <paramref name="before"/>
    /// whose intents are all done (a dead letter keeps its delivery until it is retried), with their bodies,
    /// status changes, intents and attempts. The newest delivery and intent are never deleted, so ids are never reused.
    /// </summary>
    Task<int> PruneRecordsAsync(DateTimeOffset before, int batch, CancellationToken cancellationToken);
}

/// <summary>Timers rules scheduled (written with each evaluation's commit through <see cref="IInbox"/>). Thread-safe.</summary>
internal interface ITimers
{
    /// <summary>Timers matching <paramref name="filter"/>, soonest due first.</summary>
    Task<IReadOnlyList<StoredTimer>> ListAsync(TimerFilter filter, CancellationToken cancellationToken);

    /// <summary>
    /// Fires a pending timer: marks that scheduling fired and stores <paramref name="firing"/> as the next delivery of
    /// its conversation, in one transaction, announced as a <see cref="WorkHint"/>. Returns <c>null</c>, and writes
    /// nothing, when that scheduling is no longer pending (fired by someone else, scheduled again, cancelled): each
    /// firing happens once, whoever asks.
    /// </summary>
    Task<StoreResult?> FireAsync(TimerFiring firing, CancellationToken cancellationToken);

    /// <summary>Timers pending now.</summary>
    Task<long> CountPendingAsync(CancellationToken cancellationToken);
}

/// <summary>The record of rule generations loaded or refused. Thread-safe.</summary>
internal interface IRuleGenerationLog
{
    Task RecordAsync(string contentHash, DateTimeOffset at, bool loaded, int rules, string? diagnostics, CancellationToken cancellationToken);

    /// <summary>The generations recorded, newest first.</summary>
    Task<IReadOnlyList<RuleGenerationRecord>> ListGenerationsAsync(int limit, CancellationToken cancellationToken);
}

/// <summary>Start and stop of a storage implementation (schema, background writer).</summary>
internal interface IStorageLifetime
{
    /// <summary>Where the data is, for the log.</summary>
    string Location { get; }

    /// <summary>What the store measures of itself for <c>/metrics</c> (SQLite: its single writer's queue and group commits).</summary>
    IReadOnlyList<StorageMeasure> Measures { get; }

    /// <summary>Bytes the data takes on disk now (the database and its log).</summary>
    long SizeBytes { get; }

    /// <summary>
    /// The random id made with the database (schema 13, or the upgrade to it), part of every new idempotency key;
    /// <c>null</c> until <see cref="InitializeAsync"/>.
    /// </summary>
    string? InstallationId { get; }

    /// <summary>Creates or migrates the schema. Idempotent.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Runs the writer until <see cref="Complete"/> and the queue is drained.</summary>
    Task RunAsync(CancellationToken cancellationToken);

    /// <summary>Stops accepting writes; <see cref="RunAsync"/> commits what is queued, then ends.</summary>
    void Complete();
}

/// <summary>What reconciliation with FreeScout's API keeps: its watermark, and what it compares snapshots with. Thread-safe.</summary>
internal interface IReconciliationStore
{
    /// <summary>The <c>updatedAt</c> up to which every conversation FreeScout listed has been stored or found not newer; <c>null</c> before the first pass.</summary>
    Task<DateTimeOffset?> LoadWatermarkAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Moves the watermark on to <paramref name="watermark"/> (at <paramref name="at"/>), durably; never back (an older value
    /// changes nothing). Fenced by the reconciliation lease: written only while <paramref name="lease"/> is still the lease's
    /// holder and epoch, checked inside the write's own transaction.
    /// </summary>
    /// <exception cref="ClaimLostException">Another instance took the lease over since; nothing was written.</exception>
    Task AdvanceWatermarkAsync(DateTimeOffset watermark, DateTimeOffset at, NamedLease lease, CancellationToken cancellationToken);

    /// <summary>The <c>updatedAt</c> of the known state of each of <paramref name="conversationIds"/> that has one.</summary>
    Task<IReadOnlyDictionary<int, DateTimeOffset>> KnownUpdatedAtAsync(IReadOnlyCollection<int> conversationIds, CancellationToken cancellationToken);
}

/// <summary>A rule generation as recorded: loaded (in force from then on) or refused, with its diagnostics' text.</summary>
internal sealed record RuleGenerationRecord(string ContentHash, DateTimeOffset At, bool Loaded, int Rules, string? Diagnostics);

/// <summary>Deliveries per minute and status changes per hour, for the console's overview.</summary>
/// <summary>Failures of one rule in a window: how many, the latest, and the delivery it was on.</summary>
internal sealed record RuleFailureCount(string Rule, long Count, DateTimeOffset LastAt, long LastDeliveryId);

/// <summary>Rule failures per rule in a window; <see cref="Truncated"/>: only the newest deliveries with a failure were read.</summary>
internal sealed record RuleFailureSummary(IReadOnlyList<RuleFailureCount> Rules, bool Truncated);

internal sealed record Activity(IReadOnlyList<(DateTimeOffset Start, long Count)> DeliveriesPerMinute, IReadOnlyList<(DateTimeOffset Start, long Count)> StatusChangesPerHour);

/// <summary>A conversation found by a number a person typed: <see cref="ByNumber"/> when that was its ticket number, else its id.</summary>
internal sealed record ConversationMatch(int ConversationId, bool ByNumber);

/// <summary>A measure a store publishes about itself, as a gauge or a counter (<see cref="IStorageLifetime.Measures"/>).</summary>
internal sealed record StorageMeasure(string Name, string Description, Func<long> Read, string Unit = "{item}", bool IsCounter = false);
