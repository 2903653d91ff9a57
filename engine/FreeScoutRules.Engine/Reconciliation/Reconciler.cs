using FreeScoutRules.Engine.FreeScoutApi;
using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Reconciliation;

/// <summary>
/// Reconciliation with FreeScout's REST API, for the changes no webhook reported. Every interval (and once at
/// start, to catch up after downtime) a pass pages through the conversations FreeScout lists as updated since
/// the watermark minus an overlap, oldest first, and stores each snapshot newer than its conversation's known
/// state as a delivery of that conversation (<see cref="ReconciledSnapshot"/>): the built-in status rules then
/// derive each missed change once, with <c>Via = "reconciliation"</c>, in the conversation's order. Conversations
/// updated within the settle time are left to their webhooks until the next pass. The watermark is stored after
/// each page, once that page's snapshots are committed, so a crash repeats at most a page (and a repeated snapshot
/// is recognised). A pass that fails (FreeScout down, a wrong key) is recorded and logged, and the next one starts
/// from the same watermark. Runs supervised; one pass at a time.
/// <para>
/// Singleton work (docs/design.md, "Claims and fences"): passes run only in the instance that holds the named lease
/// <see cref="NamedLeases.Reconciliation"/>, a pass asked for by hand too, so FreeScout is read by one instance at a
/// time, at <c>Reconciliation:RequestsPerSecond</c> however many run. The others stand by (<see cref="ReconcilerStatus.Standby"/>)
/// and take over when the holder's lease ends. The watermark is written under the lease's epoch: a holder whose lease
/// was taken over has its watermark refused, and a pass stops as soon as its lease is lost. Thread-safe.
/// </para>
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Design", "CA1001", Justification = "The SemaphoreSlim's wait handle is never asked for, so it owns nothing to free; not disposing it keeps a loop that outlives the container (a start that failed) from failing on a disposed semaphore.")]
internal sealed partial class Reconciler(
    FreeScoutClient api,
    IReconciliationStore store,
    IInbox inbox,
    NamedLeases leases,
    ReconciliationOptions options,
    TimeSpan interval,
    TimeProvider time,
    EngineMetrics metrics,
    ILogger<Reconciler> logger)
{
    private const int NamedConversations = 20;
    private readonly SemaphoreSlim _passes = new(1, 1);
    private readonly Lock _gate = new();
    private ReconcilerStatus _status = new(interval > TimeSpan.Zero ? ReconcilerStatus.Waiting : ReconcilerStatus.Off, interval, null, null, null, 0, null);

    /// <summary>The reconciler's state now.</summary>
    public ReconcilerStatus Status
    {
        get
        {
            lock (_gate)
            {
                return _status;
            }
        }
    }

    /// <summary>Reads the stored watermark into <see cref="Status"/> (at start: it shows before the first pass ends).</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var watermark = await store.LoadWatermarkAsync(cancellationToken);
            Update(s => s with { Watermark = s.Watermark ?? watermark });
        }
        catch (StorageException)
        {
            // The first pass reads it again and reports a storage failure the usual way.
        }
    }

    /// <summary>
    /// While this instance holds the reconciliation lease: a pass at once (catching up from the watermark), then one every
    /// interval. While another holds it: stands by, and takes over once its lease ends. Until stopped.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken) => leases.RunWhileHoldingAsync(
        NamedLeases.Reconciliation,
        async (held, underLease) =>
        {
            Update(s => s with { State = s.State == ReconcilerStatus.Standby ? ReconcilerStatus.Waiting : s.State, HeldElsewhere = null });
            while (true)
            {
                await PassUnderAsync(held, null, ReconciliationPass.Interval, cancellationToken);
                await Task.Delay(interval, time, underLease);
            }
        },
        async (holder, ct) =>
        {
            Update(s => s with { State = ReconcilerStatus.Standby, HeldElsewhere = holder });
            try
            {
                // The holder moves the watermark on: show where it is.
                var watermark = await store.LoadWatermarkAsync(ct);
                Update(s => s with { Watermark = watermark ?? s.Watermark });
            }
            catch (StorageException)
            {
                // Shown as it was; the next look reads it again.
            }
        },
        cancellationToken);

    /// <summary>
    /// Runs one pass now (after the one running, if any) from <paramref name="since"/>, or from the watermark minus the
    /// overlap, under the reconciliation lease (shared with the periodic passes when this instance holds it). Never throws
    /// for FreeScout or storage failures: the pass records them.
    /// </summary>
    /// <exception cref="LeaseHeldElsewhereException">Another instance holds the lease: passes run there (it says which, until when).</exception>
    public async Task<ReconciliationPass> PassAsync(DateTimeOffset? since, string trigger, CancellationToken cancellationToken)
    {
        NamedLeases.HeldLease held;
        try
        {
            held = await leases.HoldOrRefuseAsync(NamedLeases.Reconciliation, cancellationToken);
        }
        catch (StorageException ex)
        {
            var now = time.GetUtcNow();
            var failed = new ReconciliationPass(trigger, now, now, since ?? now, 0, 0, 0, 0, 0, 0, [], Status.Watermark, $"The reconciliation lease could not be taken: {ex.Message}");
            Finish(failed);
            return failed;
        }

        await using (held)
        {
            return await PassUnderAsync(held, since, trigger, cancellationToken);
        }
    }

    private async Task<ReconciliationPass> PassUnderAsync(NamedLeases.HeldLease held, DateTimeOffset? since, string trigger, CancellationToken cancellationToken)
    {
        await _passes.WaitAsync(cancellationToken);
        try
        {
            var pass = await RunPassAsync(since, trigger, held, cancellationToken);
            Finish(pass);
            return pass;
        }
        finally
        {
            Update(s => s with { Current = null });
            _passes.Release();
        }
    }

    /// <summary>One pass under <paramref name="held"/>: it stops when the lease is lost, or when <paramref name="stopping"/> (the server stops).</summary>
    private async Task<ReconciliationPass> RunPassAsync(DateTimeOffset? since, string trigger, NamedLeases.HeldLease held, CancellationToken stopping)
    {
        var started = time.GetUtcNow();
        var cutoff = started - options.SettleTime;
        var pass = new ReconciliationPass(trigger, started, null, since ?? started, 0, 0, 0, 0, 0, 0, [], null, null);
        var stored = new List<int>();
        var seen = new HashSet<(int, DateTimeOffset)>(); // keyset paging lists the newest of a page again
        Update(s => s with { Current = pass });
        // Every request, store and write of the pass stops when the lease is lost: its requests are the holder's alone.
        using var underLease = CancellationTokenSource.CreateLinkedTokenSource(stopping, held.Lost);
        var cancellationToken = underLease.Token;
        try
        {
            var watermark = await store.LoadWatermarkAsync(cancellationToken);
            pass = pass with { Watermark = watermark, Since = since ?? (watermark is { } w ? w - options.Overlap : started - options.InitialLookback) };
            var cursor = pass.Since;
            var page = 1;
            while (true)
            {
                pass = pass with { Requests = pass.Requests + 1 };
                Update(s => s with { Current = pass });
                var listed = await api.ListUpdatedSinceAsync(cursor, page, options.PageSize, cancellationToken);
                pass = pass with { Invalid = pass.Invalid + listed.Invalid.Count };
                foreach (var problem in listed.Invalid)
                {
                    LogInvalid(logger, problem);
                    metrics.Reconciled("invalid");
                }

                // Oldest first: the first conversation too recent to settle ends the pass (all after it are newer).
                var settled = listed.Conversations.TakeWhile(c => c.UpdatedAt <= cutoff)
                    .Where(c => c.Conversation.State != "draft" && seen.Add((c.Conversation.Id, c.UpdatedAt))).ToList();
                var unsettled = listed.Conversations.Count(c => c.UpdatedAt > cutoff);
                var reachedCutoff = unsettled > 0;
                pass = pass with { LeftForNextPass = unsettled };
                if (settled.Count > 0)
                {
                    pass = await StoreNewerAsync(settled, pass, stored, cancellationToken);
                    var newest = settled.Max(c => c.UpdatedAt);
                    await store.AdvanceWatermarkAsync(newest, time.GetUtcNow(), held.Lease, cancellationToken);
                    pass = pass with { Watermark = pass.Watermark is { } before && before > newest ? before : newest };
                    Update(s => s with { Watermark = pass.Watermark, Current = pass });
                }

                if (reachedCutoff || listed.Count < options.PageSize)
                {
                    break;
                }

                // Keyset paging on updatedAt: the next request starts at the newest seen (FreeScout's filter is inclusive,
                // and what is listed again is recognised), so conversations updated meanwhile cannot shift one out of
                // sight between pages. Only a page all of one second moves on by page number.
                var newestListed = listed.Conversations.Count > 0 ? listed.Conversations.Max(c => c.UpdatedAt) : cursor;
                (cursor, page) = newestListed > cursor ? (newestListed, 1) : (cursor, page + 1);
            }

            return pass with { FinishedAt = time.GetUtcNow(), StoredConversations = stored };
        }
        catch (Exception ex) when (ex is FreeScoutApiException or StorageException)
        {
            return pass with { FinishedAt = time.GetUtcNow(), StoredConversations = stored, Error = ex.Message };
        }
        catch (ClaimLostException ex)
        {
            // The watermark was refused: another instance took the lease over; it goes on from the watermark it keeps.
            held.MarkLost(ex.Message);
            return pass with { FinishedAt = time.GetUtcNow(), StoredConversations = stored, LeaseLost = ex.Message };
        }
        catch (OperationCanceledException) when (held.IsLost && !stopping.IsCancellationRequested)
        {
            return pass with { FinishedAt = time.GetUtcNow(), StoredConversations = stored, LeaseLost = held.LostReason ?? "the lease was lost" };
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped with the server: what was stored is committed, the watermark is past it; the next pass goes on from there.
            LogStopped(logger, pass.Requests, pass.Stored);
            throw;
        }
    }

    private async Task<ReconciliationPass> StoreNewerAsync(
        List<ListedConversation> settled, ReconciliationPass pass, List<int> storedNumbers, CancellationToken cancellationToken)
    {
        var known = await store.KnownUpdatedAtAsync([.. settled.Select(c => c.Conversation.Id).Distinct()], cancellationToken);
        var receivedAt = time.GetUtcNow();
        var stores = new List<(ListedConversation Listed, Task<StoreResult> Stored)>();
        var notNewer = 0;
        foreach (var listed in settled)
        {
            var conversation = listed.Conversation;
            if (known.TryGetValue(conversation.Id, out var knownAt) && listed.UpdatedAt <= knownAt)
            {
                notNewer++;
                continue;
            }

            // Submitted together, committed in one group; each queued for dispatch in commit order.
            stores.Add((listed, inbox.StoreAsync(
                new NewDelivery(ReconciledSnapshot.Event, listed.Json, ReconciledSnapshot.DedupeKey(conversation.Id, listed.UpdatedAt), conversation.Id, receivedAt)
                {
                    Parsed = conversation,
                },
                cancellationToken)));
        }

        var storedCount = 0;
        var duplicates = 0;
        foreach (var (listed, task) in stores)
        {
            if ((await task).Duplicate)
            {
                duplicates++;
                continue;
            }

            storedCount++;
            if (storedNumbers.Count < NamedConversations)
            {
                storedNumbers.Add(listed.Conversation.Number);
            }
        }

        metrics.Reconciled("not_newer", notNewer);
        metrics.Reconciled("duplicate", duplicates);
        metrics.Reconciled("stored", storedCount);
        return pass with
        {
            Listed = pass.Listed + settled.Count,
            Stored = pass.Stored + storedCount,
            NotNewer = pass.NotNewer + notNewer,
            Duplicates = pass.Duplicates + duplicates,
        };
    }

    private void Finish(ReconciliationPass pass)
    {
        if (pass.LeaseLost is { } reason)
        {
            // Neither a success nor a failure of FreeScout: the state stays as it was.
            Update(s => s with { LastPass = pass, Watermark = pass.Watermark ?? s.Watermark });
            LogLeaseLost(logger, pass.Requests, pass.Stored, reason);
            return;
        }

        metrics.ReconciliationPassed(pass.Error is null);
        if (pass.Error is { } error)
        {
            var failures = Status.ConsecutiveFailures + 1;
            Update(s => s with { State = ReconcilerStatus.Failing, HeldElsewhere = null, LastError = error, ConsecutiveFailures = failures, LastPass = pass, Watermark = pass.Watermark ?? s.Watermark });
            LogFailed(logger, failures, error, interval > TimeSpan.Zero ? $"the next pass starts in {interval}" : "run `freescout-rules reconcile` again once fixed");
            return;
        }

        Update(s => s with { State = ReconcilerStatus.Ok, HeldElsewhere = null, LastError = null, ConsecutiveFailures = 0, LastPass = pass, LastSuccessAt = pass.FinishedAt, Watermark = pass.Watermark ?? s.Watermark });
        var took = (pass.FinishedAt!.Value - pass.StartedAt).TotalSeconds;
        if (pass.Stored > 0)
        {
            LogStored(logger, pass.Stored, pass.Listed, pass.Since, string.Join(", ", pass.StoredConversations.Select(n => "#" + n)) + (pass.Stored > pass.StoredConversations.Count ? ", …" : ""), pass.Requests, took);
        }
        else
        {
            LogNothingNew(logger, pass.Listed, pass.Since, pass.Requests, took);
        }
    }

    private void Update(Func<ReconcilerStatus, ReconcilerStatus> change)
    {
        lock (_gate)
        {
            _status = change(_status);
        }
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Reconciliation with FreeScout failed ({Failures} in a row): {Error}; {Next}. Webhooks are processed as usual meanwhile")]
    private static partial void LogFailed(ILogger logger, int failures, string error, string next);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Reconciliation stored {Stored} snapshots newer than the known state, of {Listed} conversations FreeScout listed as updated since {Since:o} (conversations {Numbers}); {Requests} requests, {Seconds:0.0} s")]
    private static partial void LogStored(ILogger logger, int stored, int listed, DateTimeOffset since, string numbers, int requests, double seconds);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Debug, Message = "Reconciliation found nothing newer among {Listed} conversations updated since {Since:o}; {Requests} requests, {Seconds:0.0} s")]
    private static partial void LogNothingNew(ILogger logger, int listed, DateTimeOffset since, int requests, double seconds);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Information, Message = "Reconciliation pass stopped with the server after {Requests} requests and {Stored} snapshots stored; the next pass starts from the watermark")]
    private static partial void LogStopped(ILogger logger, int requests, int stored);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Warning, Message = "Reconciliation pass stopped after {Requests} requests and {Stored} snapshots stored: this instance lost the reconciliation lease ({Reason}); the instance holding it goes on from the watermark")]
    private static partial void LogLeaseLost(ILogger logger, int requests, int stored, string reason);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "Reconciliation skipped a conversation FreeScout listed: {Problem}")]
    private static partial void LogInvalid(ILogger logger, string problem);
}
