using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Timers;
using FreeScoutRules.Facts;
using Microsoft.Extensions.Time.Testing;
using Events = FreeScoutRules.FreeScout.WebhookEvents;

namespace FreeScoutRules.Engine.Tests.Storage.Contract;

/// <summary>
/// The storage ports' contract (docs/design.md, "The storage port"): what every store promises, checked on each store
/// through the ports alone. A store runs it by deriving one class that opens a new, empty store on the suite's clock
/// (<see cref="OpenAsync"/>): SQLite (<see cref="SqliteStoreContract"/>), the in-memory store
/// (<see cref="InMemoryStoreContract"/>), and PostgreSQL next. Time is the suite's <see cref="FakeTimeProvider"/>, which
/// the store reads for leases and claims. Two holders are two instances joined on the one store, as two processes on one
/// database: no store ends an instance when another joins (SQLite ends earlier instances when a process opens it, which
/// its own class checks). <see cref="SqliteMutationTests"/> runs these checks against deliberately broken SQLite stores
/// and sees each break fail them.
/// </summary>
public abstract class StoreContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    /// <summary>The instance lease the checks join with, unless they say otherwise.</summary>
    protected static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(30);

    private int _bodies;
    private OpenedStore _opened = null!;

    /// <summary>The store's clock, which the checks move.</summary>
    protected FakeTimeProvider Time { get; } = new(T0);

    private protected StorePorts Store => _opened.Ports;

    private protected WorkHints Hints => _opened.Hints;

    /// <summary>Opens a new, empty store that reads <paramref name="time"/> and announces its hints.</summary>
    private protected abstract Task<OpenedStore> OpenAsync(FakeTimeProvider time);

    public async Task InitializeAsync() => _opened = await OpenAsync(Time);

    public async Task DisposeAsync() => await _opened.CloseAsync();

    // ---- Ordering and sequences ----

    [Fact]
    public async Task Sequences_AreGapFreePerConversation_InStoringOrder_AndPendingWorkIsReadInThatOrder()
    {
        var a1 = await StoreAsync(1187);
        var b1 = await StoreAsync(1188);
        var a2 = await StoreAsync(1187);
        var a3 = await StoreAsync(1187);
        var b2 = await StoreAsync(1188);

        Assert.Equal([1L, 2, 3], new[] { a1, a2, a3 }.Select(s => s.Sequence!.Value));
        Assert.Equal([1L, 2], new[] { b1, b2 }.Select(s => s.Sequence!.Value));
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        var pending = await Store.Inbox.LoadPendingAsync(claim, 10, default);
        Assert.Equal([a1.DeliveryId, a2.DeliveryId, a3.DeliveryId], pending.Select(d => d.Id));
        Assert.Equal([1L, 2, 3], pending.Select(d => d.Sequence));
        Assert.All(pending, d => Assert.Equal((1187, DeliveryOutcome.Pending, 0), (d.ConversationId, d.Outcome, d.Attempts)));
        Assert.Equal([a1.DeliveryId, a2.DeliveryId], (await Store.Inbox.LoadPendingAsync(claim, 2, default)).Select(d => d.Id));
        Assert.Equal(
            [a1.DeliveryId, a2.DeliveryId, a3.DeliveryId, b1.DeliveryId, b2.DeliveryId],
            (await Store.History.LoadHistoryAsync(null, default)).Select(d => d.Id));
    }

    [Fact]
    public async Task Sequences_StayGapFree_WhenManyStoreAtOnce_AndGoOnAfterTheWorkIsDone()
    {
        var stored = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => StoreAsync(1187)));

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), stored.Select(s => s.Sequence!.Value).Order());
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        foreach (var delivery in stored)
        {
            await Store.Inbox.CommitEvaluationAsync(Commit(claim, delivery), default);
        }

        Assert.True(await Store.Inbox.ReleaseAsync(claim, default));
        Assert.Equal(41, (await StoreAsync(1187)).Sequence);
    }

    [Fact]
    public async Task AClaimsFirstRead_HasAsManyPendingDeliveriesAsAsked_AndALaterReadWhatWasStoredSince()
    {
        // A store may read a claim's first deliveries with the claim itself (PostgreSQL does): the first read still has as
        // many as asked, in order, and what was stored after the claim is there by the read after the first commit.
        var six = new List<StoreResult>();
        for (var i = 0; i < 6; i++)
        {
            six.Add(await StoreAsync(1187));
        }

        var holder = await JoinAsync("a");
        var claim = await ClaimAsync(holder, 1187);
        Assert.Equal(six.Select(s => s.DeliveryId), (await Store.Inbox.LoadPendingAsync(claim, 32, default)).Select(d => d.Id));

        var one = await StoreAsync(1188);
        var other = await ClaimAsync(holder, 1188);
        var later = await StoreAsync(1188);
        Assert.Equal(one.DeliveryId, (await Store.Inbox.LoadPendingAsync(other, 32, default))[0].Id);
        await Store.Inbox.CommitEvaluationAsync(Commit(other, one), default);
        Assert.Equal([later.DeliveryId], (await Store.Inbox.LoadPendingAsync(other, 32, default)).Select(d => d.Id));
        Assert.False(await Store.Inbox.ReleaseAsync(other, default)); // not while `later` is pending
    }

    [Fact]
    public async Task CopiesOfOneDelivery_StoredAtOnce_AreStoredOnce_AndTakeNoSequenceNumber()
    {
        // Copies racing: most find the first in their snapshot; those that waited for the conversation's row while the first
        // committed are turned away by the unique index, and must give the sequence number they took back.
        const string Body = """{"id":1187,"copy":true}""";
        var stored = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => StoreAsync(1187, Body)));
        var customers = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => StoreAsync(null, Body, Events.CustomerCreated)));

        var first = Assert.Single(stored, s => !s.Duplicate);
        Assert.Equal(1, first.Sequence);
        Assert.All(stored, s => Assert.Equal(first.DeliveryId, s.DeliveryId));
        Assert.Single(customers.Select(c => c.DeliveryId).Distinct());
        Assert.Single(customers, c => !c.Duplicate);
        Assert.Equal(2, (await StoreAsync(1187)).Sequence);
    }

    [Fact]
    public async Task ADeliveryOfNoConversation_HasNoSequence_AndIsKeptButNeverPending()
    {
        var customer = await StoreAsync(null, eventName: Events.CustomerCreated);

        Assert.False(customer.Duplicate);
        Assert.Null(customer.Sequence);
        Assert.Equal(DeliveryOutcome.Skipped, (await Store.History.GetAsync(customer.DeliveryId, default))!.Outcome);
        Assert.NotNull(await Store.History.GetBodyAsync(customer.DeliveryId, default));
        Assert.Null(await Store.Inbox.GetStoredAsync(customer.DeliveryId, default)); // not a conversation delivery
        Assert.Empty(await Store.Inbox.ClaimAsync(await JoinAsync("a"), null, 10, default));
        Assert.Equal(0, await Store.History.CountAsync(DeliveryOutcome.Pending, default));
    }

    // ---- Dedupe ----

    [Fact]
    public async Task TheSameEventAndBytes_AreADuplicateOfTheFirst_StoredAndAnnouncedOnce()
    {
        var first = await StoreAsync(1187, "{\"id\":1187,\"status\":\"closed\"}");
        var again = await StoreAsync(1187, "{\"id\":1187,\"status\":\"closed\"}");
        var customer = await StoreAsync(null, "{\"id\":7}", Events.CustomerCreated);
        var customerAgain = await StoreAsync(null, "{\"id\":7}", Events.CustomerCreated);

        Assert.Equal((false, true, first.DeliveryId, (long?)null), (first.Duplicate, again.Duplicate, again.DeliveryId, again.Sequence));
        Assert.Equal((true, customer.DeliveryId), (customerAgain.Duplicate, customerAgain.DeliveryId));
        Assert.Equal(2, (await Store.History.ListAsync(new DeliveryFilter(), default)).Count);
        Assert.Equal([first.DeliveryId], DrainHints().Select(h => h.DeliveryId));
    }

    [Fact]
    public async Task TheSameBytesUnderAnotherEvent_AreANewDelivery()
    {
        var status = await StoreAsync(1187, "{\"id\":1187,\"status\":\"closed\"}", Events.ConversationStatus);
        var note = await StoreAsync(1187, "{\"id\":1187,\"status\":\"closed\"}", Events.NoteCreated);

        Assert.False(note.Duplicate);
        Assert.NotEqual(status.DeliveryId, note.DeliveryId);
        Assert.Equal(2, note.Sequence);
        Assert.Equal([Events.ConversationStatus, Events.NoteCreated], (await Store.History.LoadHistoryAsync(1187, default)).Select(d => d.Event));
    }

    // ---- Claims, takeover and the fence ----

    [Fact]
    public async Task OnlyConversationsWithPendingWork_AreClaimed_WhenHinted_OrBySweep()
    {
        var holder = await JoinAsync("a");
        Assert.Empty(await Store.Inbox.ClaimAsync(holder, [1187], 10, default));

        await StoreAsync(1187);
        await StoreAsync(1189);
        await StoreAsync(null, eventName: Events.CustomerCreated);

        Assert.Empty(await Store.Inbox.ClaimAsync(holder, [1188], 10, default));
        Assert.Single(await Store.Inbox.ClaimAsync(holder, null, 1, default)); // at most the limit
        var swept = await Store.Inbox.ClaimAsync(holder, null, 10, default);
        Assert.Equal([1187, 1189], swept.Select(c => c.ConversationId).Order());
        Assert.All(swept, c => Assert.Equal(holder.Id, c.InstanceId));
    }

    [Fact]
    public async Task AHoldersOwnClaim_ComesBackWithItsEpochUnchanged()
    {
        var holder = await JoinAsync("a");
        await StoreAsync(1187);

        var first = await ClaimAsync(holder, 1187);
        var again = await ClaimAsync(holder, 1187);
        var swept = Assert.Single(await Store.Inbox.ClaimAsync(holder, null, 10, default));

        Assert.Equal(first, again);
        Assert.Equal(first, swept);
    }

    [Fact]
    public async Task ALiveHoldersClaim_IsNotTaken_ByHintOrBySweep()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b");
        var stored = await StoreAsync(1187);
        var claim = await ClaimAsync(a, 1187);

        // Renewed in time, the holder stays alive well past its first lease.
        for (var i = 0; i < 4; i++)
        {
            Time.Advance(LeaseTime / 2);
            Assert.True(await Store.Leases.RenewAsync(a, LeaseTime, default));
            Assert.True(await Store.Leases.RenewAsync(b, LeaseTime, default));
            Assert.Empty(await Store.Inbox.ClaimAsync(b, [1187], 10, default));
            Assert.Empty(await Store.Inbox.ClaimAsync(b, null, 10, default));
        }

        await Store.Inbox.CommitEvaluationAsync(Commit(claim, stored), default);
        Assert.Equal(DeliveryOutcome.Done, (await Store.History.GetAsync(stored.DeliveryId, default))!.Outcome);
    }

    [Fact]
    public async Task HoldersClaimingAtOnce_EachConversationGoesToOne()
    {
        var holders = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => JoinAsync($"h{i}")));
        for (var conversation = 1; conversation <= 20; conversation++)
        {
            await StoreAsync(conversation);
        }

        var claims = (await Task.WhenAll(holders.SelectMany(h => new[]
        {
            Store.Inbox.ClaimAsync(h, null, 100, default),
            Store.Inbox.ClaimAsync(h, [.. Enumerable.Range(1, 20)], 100, default),
        }))).SelectMany(c => c).ToList();

        Assert.Equal(Enumerable.Range(1, 20), claims.Select(c => c.ConversationId).Distinct().Order());
        Assert.All(claims.GroupBy(c => c.ConversationId), g => Assert.Single(g.Distinct()));
        Assert.All(claims, c => Assert.Equal(1, c.Epoch));
    }

    [Fact]
    public async Task AnExpiredHoldersClaim_IsTakenOver_WithItsEpochAdvanced_AndTheOldHoldersWritesAreRefused_ChangingNothing()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b", LeaseTime * 10);
        var stored = await StoreAsync(1187);
        var old = await ClaimAsync(a, 1187);

        Time.Advance(LeaseTime + TimeSpan.FromSeconds(1)); // a's lease ran out; it did not leave
        var taken = await ClaimAsync(b, 1187);

        Assert.Equal((b.Id, old.Epoch + 1), (taken.InstanceId, taken.Epoch));
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Inbox.CommitEvaluationAsync(FullCommit(old, stored), default));
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Inbox.RecordFailureAsync(Failure(old, stored, park: true), default));
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Inbox.ReleaseAsync(old, default));
        await AssertNothingWrittenAsync(stored);

        // Back, the old holder finds the conversation held by a live instance; the new holder's commit stands.
        Assert.True(await Store.Leases.RenewAsync(a, LeaseTime, default));
        Assert.Empty(await Store.Inbox.ClaimAsync(a, [1187], 10, default));
        await Store.Inbox.CommitEvaluationAsync(FullCommit(taken, stored), default);
        Assert.Equal((DeliveryOutcome.Done, 1), Outcome(await Store.History.GetAsync(stored.DeliveryId, default)));
        Assert.Single(await Store.Outbox.ListAsync(stored.DeliveryId, null, 10, default));
    }

    [Fact]
    public async Task ALeftHoldersClaims_AreFreeAtOnce()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b");
        var stored = await StoreAsync(1187);
        var old = await ClaimAsync(a, 1187);

        await Store.Leases.LeaveAsync(a, default);
        var taken = await ClaimAsync(b, 1187);

        Assert.Equal((b.Id, old.Epoch + 1), (taken.InstanceId, taken.Epoch));
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Inbox.CommitEvaluationAsync(Commit(old, stored), default));
        await Store.Inbox.CommitEvaluationAsync(Commit(taken, stored), default);
    }

    [Fact]
    public async Task AHolderPastItsLease_WhoseConversationNobodyTook_GoesOn()
    {
        var a = await JoinAsync("a");
        var stored = await StoreAsync(1187);
        var claim = await ClaimAsync(a, 1187);

        Time.Advance(LeaseTime * 3); // paused; nobody claimed meanwhile
        Assert.Equal(claim, await ClaimAsync(a, 1187));
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, stored), default);

        Assert.Equal((DeliveryOutcome.Done, 1), Outcome(await Store.History.GetAsync(stored.DeliveryId, default)));
    }

    [Fact]
    public async Task AClaimFromBeforeARelease_IsLost_EvenToItsOwnHolder_AndItsWritesChangeNothing()
    {
        var a = await JoinAsync("a");
        var first = await StoreAsync(1187);
        var before = await ClaimAsync(a, 1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(before, first), default);
        Assert.True(await Store.Inbox.ReleaseAsync(before, default));

        var second = await StoreAsync(1187);
        var now = await ClaimAsync(a, 1187);

        Assert.Equal((a.Id, before.Epoch + 1), (now.InstanceId, now.Epoch));
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Inbox.CommitEvaluationAsync(FullCommit(before, second), default));
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Inbox.RecordFailureAsync(Failure(before, second, park: false), default));
        await AssertNothingWrittenAsync(second);
        await Store.Inbox.CommitEvaluationAsync(FullCommit(now, second), default);
        Assert.Equal((DeliveryOutcome.Done, 1), Outcome(await Store.History.GetAsync(second.DeliveryId, default)));
    }

    [Fact]
    public async Task AClaim_IsReleasedOnlyWhenNoPendingDeliveryRemains_ThenAnyoneMayTakeIt()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b");
        var first = await StoreAsync(1187);
        var second = await StoreAsync(1187);
        var claim = await ClaimAsync(a, 1187);

        await Store.Inbox.CommitEvaluationAsync(Commit(claim, first), default);
        Assert.False(await Store.Inbox.ReleaseAsync(claim, default));
        Assert.Empty(await Store.Inbox.ClaimAsync(b, [1187], 10, default)); // kept: still a's
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, second), default);
        Assert.True(await Store.Inbox.ReleaseAsync(claim, default));

        await StoreAsync(1187);
        var taken = await ClaimAsync(b, 1187); // a lives, but released it
        Assert.Equal((b.Id, claim.Epoch + 1), (taken.InstanceId, taken.Epoch));
    }

    [Fact]
    public async Task ACommitOfADeliveryNotPending_IsRefused_AndWritesNothingTwice()
    {
        var stored = await StoreAsync(1187);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        await Store.Inbox.CommitEvaluationAsync(FullCommit(claim, stored), default);

        var refused = await Assert.ThrowsAsync<DeliveryNotPendingException>(() => Store.Inbox.CommitEvaluationAsync(FullCommit(claim, stored), default));

        Assert.Equal(stored.DeliveryId, refused.DeliveryId);
        Assert.Equal((DeliveryOutcome.Done, 1), Outcome(await Store.History.GetAsync(stored.DeliveryId, default)));
        Assert.Single(await Store.Outbox.ListAsync(stored.DeliveryId, null, 10, default));
        Assert.Equal(1, Assert.Single((await Store.History.ActivityAsync(T0.AddDays(-1), T0.AddDays(-1), default)).StatusChangesPerHour).Count);
    }

    [Fact]
    public async Task AFailedAttempt_IsRecordedAndRetried_AndParkingMovesTheConversationPastIt()
    {
        var first = await StoreAsync(1187);
        var second = await StoreAsync(1187);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);

        await Store.Inbox.RecordFailureAsync(Failure(claim, first, park: false), default);
        var retried = (await Store.Inbox.LoadPendingAsync(claim, 10, default))[0];
        Assert.Equal((first.DeliveryId, 1, DeliveryOutcome.Pending), (retried.Id, retried.Attempts, retried.Outcome));
        Assert.Equal("the contract's failure", (await Store.History.GetAsync(first.DeliveryId, default))!.Error);

        await Store.Inbox.RecordFailureAsync(Failure(claim, first, park: true), default);
        Assert.Equal((DeliveryOutcome.Parked, 2), Outcome(await Store.History.GetAsync(first.DeliveryId, default)));
        Assert.Equal([second.DeliveryId], (await Store.Inbox.LoadPendingAsync(claim, 10, default)).Select(d => d.Id));
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, second), default);
        Assert.True(await Store.Inbox.ReleaseAsync(claim, default));
        Assert.Equal(1, await Store.History.CountAsync(DeliveryOutcome.Parked, default));
    }

    [Fact]
    public async Task AParkedOrDoneDelivery_IsPutBackInLine_AndAnnounced_NothingElseIs()
    {
        var parked = await StoreAsync(1187);
        var done = await StoreAsync(1187);
        var pending = await StoreAsync(1187);
        var customer = await StoreAsync(null, eventName: Events.CustomerCreated);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        await Store.Inbox.RecordFailureAsync(Failure(claim, parked, park: true), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, done), default);
        DrainHints();

        Assert.True(await Store.Inbox.RequeueAsync(parked.DeliveryId, default));
        Assert.True(await Store.Inbox.RequeueAsync(done.DeliveryId, default));
        Assert.False(await Store.Inbox.RequeueAsync(pending.DeliveryId, default));
        Assert.False(await Store.Inbox.RequeueAsync(customer.DeliveryId, default));
        Assert.False(await Store.Inbox.RequeueAsync(999_999, default));

        Assert.Equal((DeliveryOutcome.Pending, 0), Outcome(await Store.History.GetAsync(parked.DeliveryId, default)));
        Assert.Equal([parked.DeliveryId, done.DeliveryId, pending.DeliveryId], (await Store.Inbox.LoadPendingAsync(claim, 10, default)).Select(d => d.Id));
        Assert.Equal([(1187, parked.DeliveryId), (1187, done.DeliveryId)], DrainHints().Select(h => (h.ConversationId, h.DeliveryId)));
    }

    [Fact]
    public async Task NewPendingWork_IsAnnounced_WithTheConversationItsProducerParsed()
    {
        var parsed = new FreeScout.Conversation();
        var bytes = Encoding.UTF8.GetBytes("{\"id\":1187}");
        var stored = await Store.Inbox.StoreAsync(
            new NewDelivery(Events.ConversationStatus, bytes, SHA256.HashData(bytes), 1187, Time.GetUtcNow()) { Parsed = parsed }, default);

        var hint = Assert.Single(DrainHints());

        Assert.Equal((1187, stored.DeliveryId), (hint.ConversationId, hint.DeliveryId));
        Assert.Same(parsed, hint.Parsed);
    }

    // ---- Known state and the latest snapshot ----

    [Fact]
    public async Task ACommit_MovesTheKnownStateOn_AndOneWithoutANewStateKeepsIt()
    {
        var first = await StoreAsync(1187, at: T0);
        var stale = await StoreAsync(1187, at: T0.AddMinutes(5));
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        Assert.Null((await Store.Inbox.LoadConversationAsync(1187, T0, default)).Known);

        await Store.Inbox.CommitEvaluationAsync(FullCommit(claim, first), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, stale, stale: true), default);

        var known = await Store.Inbox.LoadConversationAsync(1187, T0, default);
        Assert.Equal(new PriorState(1187, "closed", T0.AddMinutes(-1)), known.Known);
        Assert.Equal([new RecentIntent("notify", T0)], known.RecentIntents);
        Assert.Empty((await Store.Inbox.LoadConversationAsync(1187, T0.AddSeconds(1), default)).RecentIntents);
        Assert.Equal(
            new Dictionary<int, DateTimeOffset> { [1187] = T0.AddMinutes(-1) },
            await Store.Reconciliation.KnownUpdatedAtAsync([1187, 1188], default));
    }

    [Fact]
    public async Task TheLatestSnapshot_IsTheNewestDeliveryProcessed_NotStale_NotATimers_BeforeTheSequence()
    {
        var holder = await JoinAsync("a");
        var snapshot = await StoreAsync(1187, "{\"id\":1187,\"snapshot\":true}");
        var stale = await StoreAsync(1187);
        var parked = await StoreAsync(1187);
        var claim = await ClaimAsync(holder, 1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, snapshot, timers: [Schedule("survey", T0.AddHours(1))]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, stale, stale: true), default);
        await Store.Inbox.RecordFailureAsync(Failure(claim, parked, park: true), default);
        var firing = (await Store.Timers.FireAsync(new TimerFiring(1187, "survey", 1, T0.AddHours(1), T0.AddHours(1), "survey"), default))!;
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, firing), default);
        var pending = await StoreAsync(1187);

        var latest = await Store.Inbox.LoadSnapshotAsync(1187, pending.Sequence!.Value, default);

        Assert.Equal(snapshot.DeliveryId, latest?.Id);
        Assert.Equal("{\"id\":1187,\"snapshot\":true}", Encoding.UTF8.GetString(latest!.Body!));
        Assert.Null(await Store.Inbox.LoadSnapshotAsync(1187, snapshot.Sequence!.Value, default));
        Assert.Null(await Store.Inbox.LoadSnapshotAsync(1188, long.MaxValue, default));
    }

    // ---- Timers ----

    [Fact]
    public async Task ATimerFiresOnce_AsItsConversationsNextDelivery_WhoeverFires()
    {
        var stored = await StoreAsync(1187);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, stored, timers: [Schedule("survey", T0.AddHours(1)), Schedule("reminder", T0.AddHours(2))]), default);
        DrainHints();
        var firing = new TimerFiring(1187, "survey", 1, T0.AddHours(1), T0.AddHours(1).AddSeconds(3), "survey");

        var fired = await Store.Timers.FireAsync(firing, default);
        var again = await Store.Timers.FireAsync(firing, default);
        var later = await Store.Timers.FireAsync(firing with { FiredAt = T0.AddHours(3) }, default);

        Assert.Equal((false, 2L), (fired!.Duplicate, fired.Sequence!.Value));
        Assert.Null(again);
        Assert.Null(later);
        var timer = Assert.Single(await Store.Timers.ListAsync(new TimerFilter(1187, State: TimerState.Fired), default));
        Assert.Equal(("survey", 1, firing.FiredAt), (timer.Name, timer.Number, timer.FiredAt));
        var elapsed = Assert.Single(await Store.History.LoadHistoryAsync(1187, default), d => d.Event == TimerFiring.Event);
        Assert.Equal((fired.DeliveryId, firing.FiredAt, DeliveryOutcome.Pending), (elapsed.Id, elapsed.ReceivedAt, elapsed.Outcome));
        Assert.Equal(firing, TimerFiring.FromJson(elapsed.Body!, out _));
        Assert.Equal([(1187, fired.DeliveryId)], DrainHints().Select(h => (h.ConversationId, h.DeliveryId)));

        // Many asking at once: one firing.
        var reminder = new TimerFiring(1187, "reminder", 1, T0.AddHours(2), T0.AddHours(2), "survey");
        var racing = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Store.Timers.FireAsync(reminder, default)));
        Assert.Single(racing, r => r is not null);
        Assert.Equal(2, (await Store.History.LoadHistoryAsync(1187, default)).Count(d => d.Event == TimerFiring.Event));
        Assert.Equal(0, await Store.Timers.CountPendingAsync(default));
    }

    [Fact]
    public async Task SchedulingANameAgain_ReplacesItsPendingTimer_AndCountsItsNumber()
    {
        var first = await StoreAsync(1187);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, first, timers: [Schedule("survey", T0.AddHours(1))]), default);
        var again = await StoreAsync(1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, again, timers: [Schedule("survey", T0.AddHours(5))]), default);

        var timer = Assert.Single(await Store.Timers.ListAsync(new TimerFilter(1187, State: null), default));
        Assert.Equal((2, T0.AddHours(5), TimerState.Pending, again.DeliveryId), (timer.Number, timer.DueAt, timer.State, timer.DeliveryId));
        Assert.Null(await Store.Timers.FireAsync(new TimerFiring(1187, "survey", 1, T0.AddHours(1), T0.AddHours(1), "survey"), default));
        Assert.NotNull(await Store.Timers.FireAsync(new TimerFiring(1187, "survey", 2, T0.AddHours(5), T0.AddHours(5), "survey"), default));

        var third = await StoreAsync(1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, third, timers: [Schedule("survey", T0.AddHours(9))]), default);
        var rescheduled = Assert.Single(await Store.Timers.ListAsync(new TimerFilter(1187), default));
        Assert.Equal((3, TimerState.Pending, (DateTimeOffset?)null), (rescheduled.Number, rescheduled.State, rescheduled.FiredAt));
    }

    [Fact]
    public async Task ACancel_EndsThePendingTimer_AndACancelOfNothingChangesNothing()
    {
        var first = await StoreAsync(1187);
        var second = await StoreAsync(1187);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, first, timers: [Schedule("survey", T0.AddHours(1))]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, second, timers: [Cancel("survey"), Cancel("never-scheduled")]), default);

        var timer = Assert.Single(await Store.Timers.ListAsync(new TimerFilter(1187, State: null), default));
        Assert.Equal(("survey", TimerState.Cancelled, second.DeliveryId), (timer.Name, timer.State, timer.DeliveryId));
        Assert.Equal(0, await Store.Timers.CountPendingAsync(default));
        Assert.Null(await Store.Timers.FireAsync(new TimerFiring(1187, "survey", 1, T0.AddHours(1), T0.AddHours(1), "survey"), default));
        Assert.DoesNotContain(await Store.History.LoadHistoryAsync(1187, default), d => d.Event == TimerFiring.Event);
    }

    [Fact]
    public async Task Timers_AreListedSoonestFirst_ByStateConversationAndDueTime()
    {
        var holder = await JoinAsync("a");
        var one = await StoreAsync(1187);
        var other = await StoreAsync(1188);
        var claim = await ClaimAsync(holder, 1187);
        var otherClaim = await ClaimAsync(holder, 1188);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, one, timers: [Schedule("b", T0.AddHours(2)), Schedule("a", T0.AddHours(2)), Schedule("c", T0.AddHours(3))]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(otherClaim, other, timers: [Schedule("x", T0.AddHours(1), 1188), Schedule("y", T0.AddHours(4), 1188)]), default);
        await Store.Timers.FireAsync(new TimerFiring(1188, "y", 1, T0.AddHours(4), T0.AddHours(4), "contract"), default);

        static List<(int, string)> Names(IReadOnlyList<StoredTimer> timers) => [.. timers.Select(t => (t.ConversationId, t.Name))];

        Assert.Equal([(1188, "x"), (1187, "a"), (1187, "b"), (1187, "c")], Names(await Store.Timers.ListAsync(new TimerFilter(), default)));
        Assert.Equal([(1188, "x"), (1187, "a"), (1187, "b")], Names(await Store.Timers.ListAsync(new TimerFilter(DueBefore: T0.AddHours(3)), default)));
        Assert.Equal([(1188, "x"), (1187, "a")], Names(await Store.Timers.ListAsync(new TimerFilter(Limit: 2), default)));
        Assert.Equal([(1188, "x"), (1188, "y")], Names(await Store.Timers.ListAsync(new TimerFilter(1188, State: null), default)));
        Assert.Equal([(1188, "y")], Names(await Store.Timers.ListAsync(new TimerFilter(State: TimerState.Fired), default)));
        Assert.Equal(4, await Store.Timers.CountPendingAsync(default));
    }

    // ---- Leases ----

    [Fact]
    public async Task ANamedLease_HasOneHolderAtATime_AndItsHolderRenewsItUnderTheSameEpoch()
    {
        var a = await JoinAsync("a", LeaseTime * 10);
        var b = await JoinAsync("b", LeaseTime * 10);

        var held = await Store.Leases.TryAcquireAsync("retention", a, LeaseTime, default);
        Time.Advance(LeaseTime / 2);
        var renewed = await Store.Leases.TryAcquireAsync("retention", a, LeaseTime, default);

        Assert.Equal((a.Id, 1L, T0 + LeaseTime), (held!.InstanceId, held.Epoch, held.ExpiresAt));
        Assert.Equal((a.Id, 1L, T0 + LeaseTime * 1.5), (renewed!.InstanceId, renewed.Epoch, renewed.ExpiresAt));
        Assert.Null(await Store.Leases.TryAcquireAsync("retention", b, LeaseTime, default));
        Assert.NotNull(await Store.Leases.TryAcquireAsync("gauges", b, LeaseTime, default));
        Assert.Equal([("gauges", b.Id), ("retention", a.Id)], (await Store.Leases.ListLeasesAsync(default)).Select(l => (l.Name, l.InstanceId)));
    }

    [Fact]
    public async Task AnExpiredNamedLease_GoesToTheNextAsker_WithItsEpochAdvanced_AndTheOldHoldersReleaseChangesNothing()
    {
        var a = await JoinAsync("a", LeaseTime * 10);
        var b = await JoinAsync("b", LeaseTime * 10);
        var old = await Store.Leases.TryAcquireAsync("reconciliation", a, LeaseTime, default);

        Time.Advance(LeaseTime + TimeSpan.FromSeconds(1));
        var taken = await Store.Leases.TryAcquireAsync("reconciliation", b, LeaseTime, default);
        await Store.Leases.ReleaseAsync(old!, default);

        Assert.Equal((b.Id, old!.Epoch + 1), (taken!.InstanceId, taken.Epoch));
        Assert.Null(await Store.Leases.TryAcquireAsync("reconciliation", a, LeaseTime, default));
        Assert.Equal((b.Id, taken.Epoch, taken.ExpiresAt), Lease(await Store.Leases.ListLeasesAsync(default), "reconciliation"));
    }

    [Fact]
    public async Task AReleasedNamedLease_IsFreeAtOnce_AndSoAreTheLeasesOfAnInstanceThatLeft()
    {
        var a = await JoinAsync("a", LeaseTime * 10);
        var b = await JoinAsync("b", LeaseTime * 10);
        var released = await Store.Leases.TryAcquireAsync("retention", a, LeaseTime, default);
        await Store.Leases.TryAcquireAsync("gauges", a, LeaseTime, default);

        await Store.Leases.ReleaseAsync(released!, default);
        var retention = await Store.Leases.TryAcquireAsync("retention", b, LeaseTime, default);
        Assert.Null(await Store.Leases.TryAcquireAsync("gauges", b, LeaseTime, default));
        await Store.Leases.LeaveAsync(a, default);
        var gauges = await Store.Leases.TryAcquireAsync("gauges", b, LeaseTime, default);

        Assert.Equal((b.Id, 2L), (retention!.InstanceId, retention.Epoch));
        Assert.Equal((b.Id, 2L), (gauges!.InstanceId, gauges.Epoch));
        Assert.Null(await Store.Leases.TryAcquireAsync("a-name-nobody-holds", a, LeaseTime, default)); // one that left takes nothing
    }

    [Fact]
    public async Task Instances_AreListedNewestFirst_AliveWhileTheirLeaseRuns_AndOneThatLeftCannotRenew()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b");
        var c = await JoinAsync("c");
        Time.Advance(LeaseTime / 2);
        Assert.True(await Store.Leases.RenewAsync(b, LeaseTime, default));
        await Store.Leases.LeaveAsync(c, default);
        Time.Advance(LeaseTime / 2 + TimeSpan.FromSeconds(1)); // a's lease ran out, b's runs

        var instances = await Store.Leases.ListInstancesAsync(T0.AddMinutes(-1), default);

        Assert.Equal([(c.Id, "c", false), (b.Id, "b", true), (a.Id, "a", false)], instances.Select(i => (i.Id, i.Name, i.Alive)));
        Assert.Equal(T0 + LeaseTime * 1.5, instances[1].ExpiresAt);
        Assert.NotNull(instances[0].LeftAt);
        Assert.False(await Store.Leases.RenewAsync(c, LeaseTime, default));
        Assert.True(await Store.Leases.RenewAsync(a, LeaseTime, default)); // late, but it never left
        Assert.Equal([b.Id, a.Id], (await Store.Leases.ListInstancesAsync(T0.AddSeconds(1), default)).Select(i => i.Id));
    }

    [Fact]
    public async Task EachInstance_RecordsItsRuleGeneration_AndTheListSaysWhichRunsWhere()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b");
        var c = await JoinAsync("c");

        await Store.Leases.RecordRulesAsync(a, "generation-1", default);
        await Store.Leases.RecordRulesAsync(b, "generation-1", default);
        await Store.Leases.RecordRulesAsync(b, "generation-2", default); // b reloaded its rules

        var instances = await Store.Leases.ListInstancesAsync(T0.AddMinutes(-1), default);
        Assert.Equal([(c.Id, (string?)null), (b.Id, "generation-2"), (a.Id, "generation-1")], instances.Select(i => (i.Id, i.RulesGeneration)));
    }

    // ---- The console's and the admin API's reads ----

    [Fact]
    public async Task TheHistoryReads_FilterPageCountAndSummarise_AsTheConsoleAndTheAdminApiShowThem()
    {
        var closed = await StoreAsync(1187, at: T0.AddMinutes(-30));
        var failedTwice = await StoreAsync(1187, eventName: Events.ConversationCreated, at: T0.AddMinutes(-20));
        var other = await StoreAsync(1188, at: T0.AddMinutes(-10));
        var customer = await StoreAsync(null, eventName: Events.CustomerCreated, at: T0.AddMinutes(-5));
        var pending = await StoreAsync(1189, at: T0);
        var a = await JoinAsync("a");
        var claim = await ClaimAsync(a, 1187);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, closed, changes: [Change(1187)]), default);
        await Store.Inbox.CommitEvaluationAsync(
            Commit(claim, failedTwice, failures: [new RuleFailureRecord("zeta", "z.csx(1,1)", "Then", "boom", false), new RuleFailureRecord("alpha", "a.csx(1,1)", "When", "bang", false)]),
            default);
        var otherClaim = await ClaimAsync(a, 1188);
        await Store.Inbox.CommitEvaluationAsync(Commit(otherClaim, other, failures: [new RuleFailureRecord("alpha", "a.csx(1,1)", "When", "bang", false)]), default);

        // Paging, newest first, and each filter.
        Assert.Equal(
            [pending.DeliveryId, customer.DeliveryId, other.DeliveryId, failedTwice.DeliveryId, closed.DeliveryId],
            (await Store.History.ListAsync(new DeliveryFilter(), default)).Select(d => d.Id));
        Assert.Equal([failedTwice.DeliveryId, closed.DeliveryId], (await Store.History.ListAsync(new DeliveryFilter(Page: 2, PageSize: 3), default)).Select(d => d.Id));
        Assert.Equal([failedTwice.DeliveryId, closed.DeliveryId], (await Store.History.ListAsync(new DeliveryFilter(ConversationId: 1187), default)).Select(d => d.Id));
        Assert.Equal([pending.DeliveryId], (await Store.History.ListAsync(new DeliveryFilter(Outcome: DeliveryOutcome.Pending), default)).Select(d => d.Id));
        Assert.Equal([failedTwice.DeliveryId], (await Store.History.ListAsync(new DeliveryFilter(Event: Events.ConversationCreated), default)).Select(d => d.Id));
        Assert.Equal([other.DeliveryId, failedTwice.DeliveryId], (await Store.History.ListAsync(new DeliveryFilter(RuleFailed: true), default)).Select(d => d.Id));
        Assert.Equal(
            [other.DeliveryId, failedTwice.DeliveryId],
            (await Store.History.ListAsync(new DeliveryFilter(Since: T0.AddMinutes(-25), Until: T0.AddMinutes(-6), ConversationId: null), default))
                .Where(d => d.ConversationId is not null).Select(d => d.Id));
        Assert.Equal([failedTwice.DeliveryId, closed.DeliveryId], (await Store.History.ListAsync(new DeliveryFilter(BeforeId: other.DeliveryId), default)).Select(d => d.Id));

        // Counts, and one record as the admin API shows it.
        var counts = await Store.History.CountByOutcomeAsync(default);
        Assert.Equal((3L, 1L), (counts[DeliveryOutcome.Done], counts[DeliveryOutcome.Pending]));
        Assert.Equal(1, await Store.History.CountAsync(DeliveryOutcome.Pending, default));
        var record = (await Store.History.GetAsync(failedTwice.DeliveryId, default))!;
        Assert.Equal((Events.ConversationCreated, (int?)1187, (long?)2, DeliveryOutcome.Done, "contract"), (record.Event, record.ConversationId, record.Sequence, record.Outcome, record.RulesGeneration));

        // Rule failures per rule, most first, then by name; the window and the scan bound.
        var failures = await Store.History.RuleFailuresAsync(T0.AddHours(-1), 100, default);
        Assert.Equal([("alpha", 2L, other.DeliveryId), ("zeta", 1L, failedTwice.DeliveryId)], failures.Rules.Select(r => (r.Rule, r.Count, r.LastDeliveryId)));
        Assert.False(failures.Truncated);
        Assert.Equal(T0.AddMinutes(-10), failures.Rules[0].LastAt);
        Assert.True((await Store.History.RuleFailuresAsync(T0.AddHours(-1), 1, default)).Truncated);
        Assert.Equal([("alpha", 1L)], (await Store.History.RuleFailuresAsync(T0.AddMinutes(-15), 100, default)).Rules.Select(r => (r.Rule, r.Count)));

        // A conversation by its id, and by the ticket number its status changes carry.
        Assert.Equal([new ConversationMatch(1187, false)], await Store.History.FindConversationsAsync(1187, default));
        Assert.Equal([new ConversationMatch(1187, true)], await Store.History.FindConversationsAsync(1187 + 10_000, default));
        Assert.Empty(await Store.History.FindConversationsAsync(4242, default));

        // Activity: deliveries per minute, status changes per hour of when FreeScout says they happened.
        var activity = await Store.History.ActivityAsync(T0.AddHours(-1), T0.AddDays(-1), default);
        Assert.Equal(5, activity.DeliveriesPerMinute.Sum(b => b.Count));
        Assert.Equal([(new DateTimeOffset(T0.AddMinutes(-1).Year, T0.Month, T0.AddMinutes(-1).Day, T0.AddMinutes(-1).Hour, 0, 0, TimeSpan.Zero), 1L)], activity.StatusChangesPerHour);
    }

    // ---- Retention ----

    [Fact]
    public async Task PruningBodies_KeepsPendingDeliveries_AndThoseARerunOrAnIntentStillNeeds()
    {
        var old = T0.AddDays(-10);
        var prunable = await StoreAsync(1187, at: old);
        var pending = await StoreAsync(1187, at: old.AddMinutes(1));
        var withIntent = await StoreAsync(1187, at: old.AddMinutes(2));
        var ruleFailed = await StoreAsync(1187, at: old.AddMinutes(3));
        var customer = await StoreAsync(null, eventName: Events.CustomerCreated, at: old.AddMinutes(4));
        var recent = await StoreAsync(1188, at: T0);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        var recentClaim = await ClaimAsync(await JoinAsync("b"), 1188);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, prunable), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, withIntent, intents: [Intent()]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, ruleFailed, failures: [new RuleFailureRecord("broken", "x.csx(1,1)", "Then", "boom", false)]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(recentClaim, recent), default);

        var pruned = 0;
        RetentionCursor? cursor = null;
        do
        {
            (var batch, cursor) = await Store.Retention.PruneBodiesAsync(cursor, T0.AddDays(-1), 2, default);
            pruned += batch;
        }
        while (cursor is not null);

        Assert.Equal(2, pruned);
        Assert.Null(await Store.History.GetBodyAsync(prunable.DeliveryId, default));
        Assert.Null(await Store.History.GetBodyAsync(customer.DeliveryId, default));
        Assert.Null((await Store.Inbox.GetStoredAsync(prunable.DeliveryId, default))!.Body);
        foreach (var kept in new[] { pending, withIntent, ruleFailed, recent })
        {
            Assert.NotNull(await Store.History.GetBodyAsync(kept.DeliveryId, default));
        }

        Assert.Equal(DeliveryOutcome.Done, (await Store.History.GetAsync(prunable.DeliveryId, default))!.Outcome); // the record stays
    }

    [Fact]
    public async Task PruningRecords_KeepsPendingDeliveries_ThoseWithIntentsNotDone_AndTheNewest_AndSequencesGoOn()
    {
        // The conversation's newest sequence numbers are the deliveries retention deletes; the newest delivery and intent stay.
        var old = T0.AddDays(-10);
        var pending = await StoreAsync(1187, at: old);
        var intentPending = await StoreAsync(1187, at: old.AddMinutes(1));
        var intentDead = await StoreAsync(1187, at: old.AddMinutes(2));
        var intentDone = await StoreAsync(1187, at: old.AddMinutes(3));
        var prunable = await StoreAsync(1187, at: old.AddMinutes(4));
        var newest = await StoreAsync(1188, at: old.AddMinutes(5));
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        var newestClaim = await ClaimAsync(await JoinAsync("b"), 1188);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, prunable, changes: [Change()]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, intentDone, intents: [Intent()], destinations: ["done"]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, intentPending, intents: [Intent()], destinations: ["pending"]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(claim, intentDead, intents: [Intent()], destinations: ["dead"]), default);
        await Store.Inbox.CommitEvaluationAsync(Commit(newestClaim, newest), default);
        await FinishIntentAsync(Assert.Single(await Store.Outbox.ListAsync(intentDone.DeliveryId, null, 10, default)).Id, IntentState.Done);
        await FinishIntentAsync(Assert.Single(await Store.Outbox.ListAsync(intentDead.DeliveryId, null, 10, default)).Id, IntentState.Dead);

        var pruned = 0;
        for (int batch; (batch = await Store.Retention.PruneRecordsAsync(T0.AddDays(-1), 2, default)) > 0;)
        {
            pruned += batch;
        }

        Assert.Equal(2, pruned);
        Assert.Null(await Store.History.GetAsync(prunable.DeliveryId, default));
        Assert.Null(await Store.History.GetAsync(intentDone.DeliveryId, default));
        Assert.Empty(await Store.Outbox.ListAsync(intentDone.DeliveryId, null, 10, default));
        Assert.Empty((await Store.History.ActivityAsync(T0.AddDays(-30), T0.AddDays(-30), default)).StatusChangesPerHour);
        foreach (var kept in new[] { pending, intentPending, intentDead, newest })
        {
            Assert.NotNull(await Store.History.GetAsync(kept.DeliveryId, default));
        }

        // A conversation's sequence goes on from where it was, whatever retention deleted.
        Assert.Equal(6, (await StoreAsync(1187)).Sequence);
        Assert.True((await StoreAsync(1190)).DeliveryId > newest.DeliveryId);
    }

    // ---- The outbox: intents claimed under an instance's lease with a token ----

    [Fact]
    public async Task Intents_AreListedNewestFirst_WithTheirDestinationAndAKeyOfTheirOwn_AndCounted()
    {
        var stored = await StoreAsync(1187);
        var claim = await ClaimAsync(await JoinAsync("a"), 1187);
        Time.Advance(TimeSpan.FromMinutes(1));
        await Store.Inbox.CommitEvaluationAsync(
            Commit(claim, stored, intents: [Intent("http"), Intent("slack")], destinations: ["hooks.example.com", null]), default);

        var intents = await Store.Outbox.ListAsync(stored.DeliveryId, null, 10, default);
        var again = await Store.Outbox.ListAsync(null, IntentState.Pending, 1, default);

        Assert.Equal([("slack", "slack"), ("http", "hooks.example.com")], intents.Select(i => (i.Action, i.Destination)));
        Assert.All(intents, i => Assert.Equal((IntentState.Pending, 0, 1187, T0.AddMinutes(1)), (i.State, i.Attempts, i.ConversationId, i.CreatedAt)));
        Assert.Equal(intents[0].Id, Assert.Single(again).Id);
        Assert.Equal(intents[0].IdempotencyKey, again[0].IdempotencyKey);
        Assert.NotEqual(intents[0].IdempotencyKey, intents[1].IdempotencyKey);
        Assert.All(intents, i => Assert.Contains(i.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), i.IdempotencyKey, StringComparison.Ordinal));
        Assert.Equal(new OutboxStats(2, 0, T0.AddMinutes(1)), await Store.Outbox.StatsAsync(default));
    }

    [Fact]
    public async Task OnlyTheOldestPendingIntentOfAConversationAndDestination_IsClaimable_AndOnlyByOneHolder()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b");
        var ids = await IntentsAsync(1187, ("http", "hooks"), ("http", "hooks"), ("slack", null));

        var first = await ClaimDueAsync(a);
        Assert.Equal([ids[0], ids[2]], first.Select(i => i.Id));
        Assert.Empty(await ClaimDueAsync(b)); // the first two are a's; the second waits for the first
        Assert.Equal(ids[0], (await Store.Outbox.ListAsync(null, IntentState.Pending, 10, default)).Single(i => i.Id == ids[1]).WaitingFor);
        Assert.All(first, i => Assert.Equal((a.Id, i.Id), (i.Claim.InstanceId, i.Claim.IntentId)));
        Assert.NotEqual(first[0].Claim.Token, first[1].Claim.Token);

        await RecordAsync(first[0].Claim, IntentState.Done);
        Assert.Equal([ids[1]], (await ClaimDueAsync(b)).Select(i => i.Id));

        // An unordered action's intents neither wait nor hold others back.
        var unordered = await IntentsAsync(1188, ("http", "hooks"), ("http", "hooks"));
        Assert.Equal(unordered, (await ClaimDueAsync(a, unordered: new HashSet<string>(StringComparer.Ordinal) { "http" })).Select(i => i.Id));
    }

    [Fact]
    public async Task AClaim_TakesNoMoreThanItsSlotsHaveRoomFor_AndSaysWhenMoreWereDue()
    {
        var a = await JoinAsync("a");
        var ids = await IntentsAsync(1187, ("http", "hooks"), ("slack", "chat"));
        var more = await IntentsAsync(1188, ("http", "hooks"), ("slack", "chat"));

        var full = await Store.Outbox.ClaimDueAsync(a, new IntentSlots(10, 2, new Dictionary<string, int> { ["hooks"] = 2 }), new HashSet<string>(), default);
        var one = await Store.Outbox.ClaimDueAsync(a, new IntentSlots(1, 10, new Dictionary<string, int>()), new HashSet<string>(), default);
        var rest = await Store.Outbox.ClaimDueAsync(a, new IntentSlots(10, 1, new Dictionary<string, int>()), new HashSet<string>(), default);

        Assert.Equal([ids[1], more[1]], full.Intents.Select(i => i.Id)); // no room at "hooks"
        Assert.Equal([ids[0]], one.Intents.Select(i => i.Id));
        Assert.True(one.More);
        Assert.Equal([more[0]], rest.Intents.Select(i => i.Id));
        Assert.False(rest.More);
        Assert.Empty((await Store.Outbox.ClaimDueAsync(a, new IntentSlots(0, 10, new Dictionary<string, int>()), new HashSet<string>(), default)).Intents);
    }

    [Fact]
    public async Task AnAttemptsRecord_IsRefusedUnlessItsClaimIsTheIntents_AndThenChangesNothing()
    {
        var a = await JoinAsync("a", TimeSpan.FromDays(1));
        var id = (await IntentsAsync(1187, ("http", null)))[0];
        var claim = Assert.Single(await ClaimDueAsync(a)).Claim;

        await Assert.ThrowsAsync<ClaimLostException>(() => RecordAsync(claim with { Token = "not-the-token" }, IntentState.Done));
        var untouched = Assert.Single(await Store.Outbox.ListAsync(null, null, 10, default));
        Assert.Equal((IntentState.Pending, 0, 0), (untouched.State, untouched.Attempts, untouched.AttemptLog.Count));

        await RecordAsync(claim, IntentState.Pending, next: Time.GetUtcNow().AddMinutes(1)); // retryable: due again later, claimed by nobody
        await Assert.ThrowsAsync<ClaimLostException>(() => RecordAsync(claim, IntentState.Done)); // that claim ended with its record
        Assert.Empty(await ClaimDueAsync(a));
        Time.Advance(TimeSpan.FromMinutes(1));
        var again = Assert.Single(await ClaimDueAsync(a));
        Assert.Equal((id, 1), (again.Id, again.Attempts));
    }

    [Fact]
    public async Task AnExpiredHoldersIntent_IsClaimedAgainWithTheSameKey_AndTheOldHoldersRecordIsRefused()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b", LeaseTime * 10);
        await IntentsAsync(1187, ("http", null));
        var old = Assert.Single(await ClaimDueAsync(a));

        Assert.Empty(await ClaimDueAsync(b)); // a lives
        Time.Advance(LeaseTime + TimeSpan.FromSeconds(1));
        Assert.Empty(await ClaimDueAsync(a)); // nothing for a holder whose own lease ran out
        var taken = Assert.Single(await ClaimDueAsync(b));

        Assert.Equal((old.Id, old.IdempotencyKey, b.Id), (taken.Id, taken.IdempotencyKey, taken.Claim.InstanceId));
        await Assert.ThrowsAsync<ClaimLostException>(() => RecordAsync(old.Claim, IntentState.Done));
        await RecordAsync(taken.Claim, IntentState.Done);
        var record = Assert.Single(await Store.Outbox.ListAsync(null, null, 10, default));
        Assert.Equal((IntentState.Done, 1), (record.State, Assert.Single(record.AttemptLog).Attempt));
    }

    [Fact]
    public async Task AClaimGivenBack_IsDueAgainAtOnce_ForAnyone()
    {
        var a = await JoinAsync("a");
        var b = await JoinAsync("b");
        await IntentsAsync(1187, ("http", null));
        var given = Assert.Single(await ClaimDueAsync(a));

        Assert.True(await Store.Outbox.ReleaseAsync(given.Claim, default));
        Assert.False(await Store.Outbox.ReleaseAsync(given.Claim, default));
        var taken = Assert.Single(await ClaimDueAsync(b));

        Assert.Equal(given.Id, taken.Id);
        await Assert.ThrowsAsync<ClaimLostException>(() => RecordAsync(given.Claim, IntentState.Done));
        Assert.False(await Store.Outbox.ReleaseAsync(given.Claim, default));
    }

    /// <summary>
    /// Issue 22: a claim whose commit's answer was lost (the database restarted during the commit) left the intent claimed
    /// by a live instance that did not know it: due for nobody until that instance's lease ended. A claimer that says what
    /// it holds (<see cref="IntentSlots.Held"/>) takes its own other claims again.
    /// </summary>
    [Fact]
    public async Task AnIntentItsHolderNoLongerHolds_IsClaimedAgainByIt_WithANewTokenAndTheSameKey_AndOneItHoldsIsNot()
    {
        var a = await JoinAsync("a", TimeSpan.FromDays(1));
        var b = await JoinAsync("b", TimeSpan.FromDays(1));
        await IntentsAsync(1187, ("http", null), ("slack", null));
        var claimed = await ClaimDueAsync(a);
        var (kept, lost) = (claimed[0], claimed[1]); // a holds the first; it never learnt that it claimed the second

        Assert.Empty(await ClaimDueAsync(b)); // a lives: neither is due for b
        Assert.Empty(await ClaimDueAsync(a)); // a claimer that does not say what it holds: its claims stay its own
        var slots = new IntentSlots(10, 10, new Dictionary<string, int>()) { Held = [kept.Claim.Token] };
        var orphan = Assert.Single((await Store.Outbox.ClaimDueAsync(a, slots, new HashSet<string>(), default)).Intents);

        Assert.Equal((lost.Id, lost.IdempotencyKey, a.Id), (orphan.Id, orphan.IdempotencyKey, orphan.Claim.InstanceId));
        Assert.NotEqual(lost.Claim.Token, orphan.Claim.Token);
        await Assert.ThrowsAsync<ClaimLostException>(() => RecordAsync(lost.Claim, IntentState.Done)); // the claim it lost is no more
        await RecordAsync(orphan.Claim, IntentState.Done);
        await RecordAsync(kept.Claim, IntentState.Done);
        Assert.All(await Store.Outbox.ListAsync(null, null, 10, default), i => Assert.Equal((IntentState.Done, 1), (i.State, i.AttemptLog.Count)));
    }

    [Fact]
    public async Task ADeadIntent_IsPutBackInLine_Once_ClaimedByNobody()
    {
        var a = await JoinAsync("a", TimeSpan.FromDays(1));
        var ids = await IntentsAsync(1187, ("http", null), ("slack", null));
        var claimed = await ClaimDueAsync(a);
        var dead = claimed.Single(i => i.Id == ids[0]);
        await RecordAsync(dead.Claim, IntentState.Dead);
        Assert.Equal(new OutboxStats(1, 1, T0), await Store.Outbox.StatsAsync(default));

        Time.Advance(TimeSpan.FromHours(1));
        Assert.True(await Store.Outbox.RetryDeadAsync(ids[0], Time.GetUtcNow(), default));
        Assert.False(await Store.Outbox.RetryDeadAsync(ids[0], Time.GetUtcNow(), default));
        Assert.False(await Store.Outbox.RetryDeadAsync(ids[1], Time.GetUtcNow(), default));
        Assert.False(await Store.Outbox.RetryDeadAsync(999_999, Time.GetUtcNow(), default));

        var retried = Assert.Single(await Store.Outbox.ListAsync(null, null, 10, default), i => i.Id == ids[0]);
        Assert.Equal((IntentState.Pending, (DateTimeOffset?)null), (retried.State, retried.CompletedAt));
        Assert.Single(retried.AttemptLog); // its earlier attempt is kept
        Assert.Equal(new OutboxStats(2, 0, T0), await Store.Outbox.StatsAsync(default));
        Assert.Equal([ids[0]], (await ClaimDueAsync(a)).Select(i => i.Id)); // claimed by nobody: due again
    }

    /// <summary>Commits a delivery of <paramref name="conversation"/> with intents (action, destination); their ids, oldest first.</summary>
    private async Task<List<long>> IntentsAsync(int conversation, params (string Action, string? Destination)[] intents)
    {
        var stored = await StoreAsync(conversation);
        var claim = await ClaimAsync(await JoinAsync("committer", LeaseTime * 100), conversation);
        await Store.Inbox.CommitEvaluationAsync(
            Commit(claim, stored, intents: [.. intents.Select((i, n) => Intent(i.Action, $"#{n}", conversation))], destinations: [.. intents.Select(i => i.Destination)]),
            default);
        return [.. (await Store.Outbox.ListAsync(stored.DeliveryId, null, 100, default)).Select(i => i.Id).Order()];
    }

    private async Task<IReadOnlyList<DueIntent>> ClaimDueAsync(InstanceLease holder, IReadOnlySet<string>? unordered = null) =>
        (await Store.Outbox.ClaimDueAsync(holder, new IntentSlots(10, 10, new Dictionary<string, int>()), unordered ?? new HashSet<string>(), default)).Intents;

    /// <summary>An attempt under <paramref name="claim"/> that leaves the intent <paramref name="state"/>.</summary>
    private Task RecordAsync(IntentClaim claim, string state, DateTimeOffset? next = null) =>
        Store.Outbox.RecordAttemptAsync(
            new AttemptCommit(claim, 1, Time.GetUtcNow(), TimeSpan.FromMilliseconds(20), state == IntentState.Done ? AttemptOutcome.Done : AttemptOutcome.Failed,
                state == IntentState.Done ? null : "the contract's failure", state, next),
            default);

    /// <summary>Finishes intent <paramref name="intentId"/> as <paramref name="state"/>: claimed (the other intents claimed with it given back), then recorded.</summary>
    private async Task FinishIntentAsync(long intentId, string state)
    {
        var claimed = await ClaimDueAsync(await JoinAsync("finisher", LeaseTime * 100));
        foreach (var other in claimed.Where(i => i.Id != intentId))
        {
            Assert.True(await Store.Outbox.ReleaseAsync(other.Claim, default));
        }

        await RecordAsync(claimed.Single(i => i.Id == intentId).Claim, state);
    }

    // ---- Reconciliation and the rule generations ----

    [Fact]
    public async Task TheReconciliationWatermark_MovesOnlyForward_AndOnlyUnderItsLease()
    {
        var a = await JoinAsync("a", LeaseTime * 10);
        var b = await JoinAsync("b", LeaseTime * 10);
        var lease = (await Store.Leases.TryAcquireAsync("reconciliation", a, LeaseTime, default))!;
        Assert.Null(await Store.Reconciliation.LoadWatermarkAsync(default));

        await Store.Reconciliation.AdvanceWatermarkAsync(T0, T0, lease, default);
        await Store.Reconciliation.AdvanceWatermarkAsync(T0.AddHours(-1), T0, lease, default);
        Assert.Equal(T0, await Store.Reconciliation.LoadWatermarkAsync(default));
        await Store.Reconciliation.AdvanceWatermarkAsync(T0.AddHours(1), T0, lease, default);
        Assert.Equal(T0.AddHours(1), await Store.Reconciliation.LoadWatermarkAsync(default));

        Time.Advance(LeaseTime + TimeSpan.FromSeconds(1));
        var taken = (await Store.Leases.TryAcquireAsync("reconciliation", b, LeaseTime, default))!;
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Reconciliation.AdvanceWatermarkAsync(T0.AddHours(2), T0, lease, default));
        await Assert.ThrowsAsync<ClaimLostException>(() => Store.Reconciliation.AdvanceWatermarkAsync(T0.AddHours(2), T0, lease with { Name = "nobody's" }, default));
        Assert.Equal(T0.AddHours(1), await Store.Reconciliation.LoadWatermarkAsync(default));
        await Store.Reconciliation.AdvanceWatermarkAsync(T0.AddHours(2), T0, taken, default);
        Assert.Equal(T0.AddHours(2), await Store.Reconciliation.LoadWatermarkAsync(default));
    }

    [Fact]
    public async Task RuleGenerations_AreListedNewestFirst()
    {
        await Store.Generations.RecordAsync("one", T0, loaded: true, 3, null, default);
        await Store.Generations.RecordAsync("two", T0.AddMinutes(1), loaded: false, 0, "CS1002: ; expected", default);

        Assert.Equal(
            [new RuleGenerationRecord("two", T0.AddMinutes(1), false, 0, "CS1002: ; expected"), new RuleGenerationRecord("one", T0, true, 3, null)],
            await Store.Generations.ListGenerationsAsync(10, default));
        Assert.Single(await Store.Generations.ListGenerationsAsync(1, default));
    }

    // ---- Helpers ----

    /// <summary>Stores a delivery of <paramref name="conversation"/> (of none: a customer event) with a body of its own unless given one.</summary>
    private protected async Task<StoreResult> StoreAsync(int? conversation, string? body = null, string eventName = Events.ConversationStatus, DateTimeOffset? at = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body ?? $"{{\"id\":{conversation?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"},\"n\":{Interlocked.Increment(ref _bodies)}}}");
        return await Store.Inbox.StoreAsync(new NewDelivery(eventName, bytes, SHA256.HashData(bytes), conversation, at ?? Time.GetUtcNow()), default);
    }

    private protected Task<InstanceLease> JoinAsync(string name, TimeSpan? leaseTime = null) => Store.Leases.JoinAsync(name, leaseTime ?? LeaseTime, default);

    private protected async Task<ConversationClaim> ClaimAsync(InstanceLease holder, int conversation) =>
        Assert.Single(await Store.Inbox.ClaimAsync(holder, [conversation], 10, default));

    /// <summary>A commit of <paramref name="stored"/> under <paramref name="claim"/>, with what it is given.</summary>
    private protected EvaluationCommit Commit(
        ConversationClaim claim, StoreResult stored, NextState? next = null, IReadOnlyList<ActionIntent>? intents = null, IReadOnlyList<TimerChange>? timers = null,
        IReadOnlyList<StatusChanged>? changes = null, bool stale = false, IReadOnlyList<RuleFailureRecord>? failures = null, IReadOnlyList<string?>? destinations = null) =>
        new(stored.DeliveryId, claim.ConversationId, stored.Sequence!.Value, Time.GetUtcNow(), "contract", next, changes ?? [], intents ?? [],
            new DeliveryResult([], [], [], stale, RuleFailures: failures), timers, destinations)
        {
            Claim = claim,
        };

    /// <summary>A commit that writes something of every kind: a known state, a status change, an intent, a timer.</summary>
    private protected EvaluationCommit FullCommit(ConversationClaim claim, StoreResult stored) =>
        Commit(claim, stored, new NextState(claim.ConversationId, "closed", T0.AddMinutes(-1)), [Intent()], [Schedule("survey", T0.AddHours(1), claim.ConversationId)], [Change(claim.ConversationId)]);

    private protected static DeliveryFailure Failure(ConversationClaim claim, StoreResult stored, bool park) =>
        new(stored.DeliveryId, claim.ConversationId, stored.Sequence!.Value, "the contract's failure", park) { Claim = claim };

    private protected static ActionIntent Intent(string action = "http", string text = "closed", int conversation = 1187) =>
        new("notify", action, conversation, $"{{\"text\":\"{text}\"}}");

    private protected static TimerChange Schedule(string name, DateTimeOffset due, int conversation = 1187) => new("survey", name, conversation, due);

    private protected static TimerChange Cancel(string name, int conversation = 1187) => new("survey", name, conversation, null);

    private protected static StatusChanged Change(int conversation = 1187) =>
        new(conversation, conversation + 10_000, "active", "closed", Events.ConversationStatus, T0.AddMinutes(-1), null);

    private static (string, int) Outcome(DeliveryRecord? record) => (record!.Outcome, record.Attempts);

    private static (long, long, DateTimeOffset) Lease(IReadOnlyList<NamedLease> leases, string name) =>
        leases.Single(l => l.Name == name) is var lease ? (lease.InstanceId, lease.Epoch, lease.ExpiresAt) : default;

    /// <summary>A refused write left <paramref name="stored"/> as it was, and wrote nothing of what it carried.</summary>
    private protected async Task AssertNothingWrittenAsync(StoreResult stored)
    {
        var record = (await Store.History.GetAsync(stored.DeliveryId, default))!;
        Assert.Equal((DeliveryOutcome.Pending, 0, (string?)null), (record.Outcome, record.Attempts, record.Error));
        Assert.Null((await Store.Inbox.LoadConversationAsync(1187, T0.AddDays(-1), default)).Known);
        Assert.Empty(await Store.Outbox.ListAsync(stored.DeliveryId, null, 10, default));
        Assert.Empty(await Store.Timers.ListAsync(new TimerFilter(1187, State: null), default));
        Assert.Empty((await Store.History.ActivityAsync(T0.AddDays(-1), T0.AddDays(-1), default)).StatusChangesPerHour);
    }

    /// <summary>The hints announced since the last call.</summary>
    private protected List<WorkHint> DrainHints()
    {
        var hints = new List<WorkHint>();
        while (Hints.Reader.TryRead(out var hint))
        {
            hints.Add(hint);
        }

        return hints;
    }
}

/// <summary>The ports of one store under the contract.</summary>
internal sealed record StorePorts(
    IInbox Inbox, IDeliveryHistory History, IOutbox Outbox, ITimers Timers, ILeases Leases, IRetentionStore Retention,
    IReconciliationStore Reconciliation, IRuleGenerationLog Generations)
{
    /// <summary>The ports of a store that implements them all.</summary>
    public static StorePorts Of<T>(T store)
        where T : IInbox, IDeliveryHistory, IOutbox, ITimers, ILeases, IRetentionStore, IReconciliationStore, IRuleGenerationLog =>
        new(store, store, store, store, store, store, store, store);
}

/// <summary>A store opened for one check: its ports, where it announces hints, and how it closes.</summary>
internal sealed record OpenedStore(StorePorts Ports, WorkHints Hints, Func<ValueTask> CloseAsync);
