using System.Text;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Dispatch;

/// <summary>
/// The dispatcher's scheduling on its own: an in-memory inbox with claims, fake time, the real pipeline and
/// built-in rules; no HTTP, no database.
/// </summary>
[Collection(BuiltInRulesCollection.Name)]
public sealed class DispatcherTests : IDisposable
{
    private readonly RuleSetFixture fixture;

    public DispatcherTests(RuleSetFixture fixture)
    {
        this.fixture = fixture;
        _inbox = new FakeInbox(_hints);
    }

    private readonly FakeTimeProvider _time = new(Deliveries.T0);
    private readonly WorkHints _hints = new();
    private readonly FakeInbox _inbox = null!;
    private static readonly InstanceLease Instance = new(1, "test");
    private readonly CancellationTokenSource _stop = new();
    private readonly TestMeterFactory _meters = new();
    private readonly TempDirectory _failingRules = new();
    private Watchdog _watchdog = null!;

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
        _meters.Dispose();
        _failingRules.Dispose();
    }

    private Dispatcher Start(DispatchOptions options, RuleSetGeneration? rules = null, bool run = true, Microsoft.Extensions.Logging.ILogger<Dispatcher>? logger = null)
    {
        var generation = rules ?? fixture.Rules;
        var metrics = new EngineMetrics(_meters);
        _watchdog = new Watchdog(options.RuleTimeout, _time, NullLogger<Watchdog>.Instance);
        var processor = new DeliveryProcessor(
            _inbox, () => generation, new EvaluationPipeline(PipelineSettings.Default), _watchdog, options, _time, metrics, NullLogger<DeliveryProcessor>.Instance);
        var dispatcher = new Dispatcher(_inbox, _hints, () => Instance, processor, options, _time, metrics, logger ?? NullLogger<Dispatcher>.Instance);
        if (run)
        {
            _ = dispatcher.RunAsync(_stop.Token);
        }

        return dispatcher;
    }

    /// <summary>Stores a delivery, with its hint carrying it parsed as a webhook's does (a lane that reads it before the hint parses the body).</summary>
    private void Store(long id, int conversationId, long sequence, string status, int seconds) =>
        _inbox.Add(
            new StoredDelivery(id, Events.ConversationStatus, Deliveries.Body(status, seconds, conversationId), conversationId, sequence, Deliveries.T0, 0),
            Deliveries.Of(Events.ConversationStatus, status, seconds, conversationId).Conversation);

    private static async Task Until(string condition, Func<bool> holds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!holds())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 10 s for {condition}.");
            }

            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task OneConversation_CommitsInSequenceOrder_WhileAnotherIsNotHeldUp()
    {
        var holdFirst = new TaskCompletionSource();
        _inbox.OnCommit = commit => commit.DeliveryId == 1 ? holdFirst.Task : Task.CompletedTask;
        var dispatcher = Start(new DispatchOptions { InFlight = 4, Workers = 2 });
        string[] statuses = [Status.Active, Status.Closed, Status.Active, Status.Pending, Status.Closed];
        for (var i = 0; i < 5; i++)
        {
            Store(1 + i, 1, i + 1, statuses[i], i);
            Store(101 + i, 2, i + 1, statuses[i], i);
        }

        await Until("conversation 2's five deliveries to commit while conversation 1 waits", () => _inbox.CommitCount == 5);
        Assert.Equal([101L, 102, 103, 104, 105], _inbox.CommittedIds());
        holdFirst.SetResult();
        await Until("all ten to commit", () => _inbox.CommitCount == 10);

        Assert.Equal([1L, 2, 3, 4, 5], _inbox.CommittedIds().Where(id => id < 100));
        var changes = _inbox.Commits.Where(c => c.ConversationId == 1).SelectMany(c => c.StatusChanges).Select(c => $"{c.From}->{c.To}");
        Assert.Equal(["->active", "active->closed", "closed->active", "active->pending", "pending->closed"], changes);
        await Until("both claims to be released", () => dispatcher.Claimed == 0);
        Assert.Equal(0, dispatcher.InProgress);
    }

    /// <summary>
    /// Issue 22 (live instances "losing" claims under load, in the three-instance test): a sweep also returns the
    /// conversations this instance holds; one read while a lane held it and handed in after the lane released it at that
    /// epoch started a new lane on a claim nobody held, whose first write was refused as a claim lost to another instance.
    /// </summary>
    [Fact]
    public async Task ASweepsClaimReadBeforeALaneReleasedIt_IsAskedAgain_NotWorkedAsALostClaim()
    {
        var committing = new TaskCompletionSource();
        var commit = new TaskCompletionSource();
        _inbox.OnCommit = _ =>
        {
            committing.TrySetResult();
            return commit.Task;
        };
        var sweepRead = new TaskCompletionSource();
        var sweepOn = new TaskCompletionSource();
        _inbox.AfterClaim = (asked, claims) =>
        {
            if (asked is null && claims.Any(c => c.ConversationId == 1))
            {
                sweepRead.TrySetResult();
                return sweepOn.Task;
            }

            return Task.CompletedTask;
        };
        var log = new CollectingLogger<Dispatcher>();
        var dispatcher = Start(new DispatchOptions { SweepInterval = TimeSpan.FromSeconds(1) }, logger: log);
        await Until("the first sweep", () => _inbox.ClaimCalls > 0);
        Store(1, 1, 1, Status.Active, 1);
        await committing.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the lane commits (and releases) conversation 1
        await Until("a sweep to read conversation 1 as this instance's", () =>
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            return sweepRead.Task.IsCompleted;
        });
        commit.SetResult();
        await Until("the lane to release its claim and end", () => dispatcher.Claimed == 0 && _inbox.CommitCount == 1);
        sweepOn.SetResult(); // the sweep's claim, read before the release, handed in after it
        await Until("the stale claim to be asked again", () => _inbox.ClaimsMade.Count(c => c.ConversationId == 1) >= 2 && dispatcher.Claimed == 0);
        Store(2, 1, 2, Status.Closed, 2); // the conversation goes on under a new claim
        await Until("its next delivery to commit", () => _inbox.CommitCount == 2);

        Assert.DoesNotContain(log.Entries, e => e.Message.Contains("was taken over by another instance", StringComparison.Ordinal));
        Assert.Equal(2, _inbox.Commits[1].Claim.Epoch);
    }

    /// <summary>
    /// The same claim handed in again after it was asked again is the store's word: a database that lost its last commits
    /// in a crash (<c>synchronous_commit</c> off) holds the conversation again under the claim this instance released, with
    /// the delivery pending again. It is worked, not asked for again and again.
    /// </summary>
    [Fact]
    public async Task AClaimTheStoreHandsAgainAfterTheReleaseWasLost_IsWorked_NotAskedForForever()
    {
        var dispatcher = Start(new DispatchOptions { SweepInterval = TimeSpan.FromSeconds(1) });
        Store(1, 1, 1, Status.Active, 1);
        await Until("the delivery to commit and its claim to be released", () => _inbox.CommitCount == 1 && dispatcher.Claimed == 0);
        _inbox.LoseCommit(1);

        await Until("the delivery to commit again", () =>
        {
            _time.Advance(TimeSpan.FromSeconds(1)); // sweeps: they find the conversation held by this instance again
            return _inbox.CommitCount == 2;
        });

        Assert.Equal([1L, 1L], _inbox.CommittedIds());
        Assert.Equal(_inbox.Commits[0].Claim, _inbox.Commits[1].Claim);
        Assert.True(_inbox.ClaimsMade.Count(c => c.ConversationId == 1) <= 4, $"{_inbox.ClaimsMade.Count} claims made");
    }

    [Fact]
    public async Task BusyConversation_YieldsAfterABatch_SoAnotherIsNotStarved()
    {
        var dispatcher = Start(new DispatchOptions { InFlight = 1, Workers = 1 }, run: false);
        for (var i = 1; i <= 100; i++)
        {
            Store(i, 1, i, i % 2 == 0 ? Status.Closed : Status.Active, i);
        }

        Store(1000, 2, 1, Status.Closed, 1);
        _ = dispatcher.RunAsync(_stop.Token);
        await Until("all 101 deliveries to commit", () => _inbox.CommitCount == 101);

        Assert.Equal(Dispatcher.FairnessBatch, _inbox.CommittedIds().IndexOf(1000));
    }

    [Fact]
    public async Task AClaimLostMidEvaluation_IsRefusedAtCommit_AndTheLaneEndsWithoutWritingAnything()
    {
        var hold = new TaskCompletionSource();
        _inbox.OnCommit = commit => commit.DeliveryId == 1 ? hold.Task : Task.CompletedTask;
        var dispatcher = Start(new DispatchOptions { InFlight = 2, Workers = 1 });
        Store(1, 5, 1, Status.Active, 1);
        Store(2, 5, 2, Status.Closed, 2);
        await Until("the first delivery to reach its commit", () => _inbox.ClaimsMade.Count == 1);
        await Task.Delay(50);

        _inbox.TakeOver(5); // this instance's lease ran out and another instance claimed the conversation
        hold.SetResult();
        await Until("the lane to end", () => dispatcher.Claimed == 0);

        Assert.Equal(0, _inbox.CommitCount);
        Assert.Equal(0, _inbox.FailureCount);
    }

    [Fact]
    public async Task MoreHintedConversationsThanClaimsAllowed_AreClaimedAsLanesEnd_NotLeftForTheSweep()
    {
        // A burst larger than MaxClaims (the timer loop fires 500 at once): the hints that do not fit wait for a slot.
        // Left for the sweep, they were claimed a MaxClaims per sweep interval: 500 timers a second instead of 8,000.
        var dispatcher = Start(new DispatchOptions { MaxClaims = 2, SweepInterval = TimeSpan.FromHours(1) });
        await Task.Delay(50); // the first sweep is over
        for (var conversation = 1; conversation <= 10; conversation++)
        {
            Store(conversation, conversation, 1, Status.Closed, 1);
        }

        await Until("all ten conversations to be claimed and committed, with no sweep", () => _inbox.CommitCount == 10);
        Assert.Equal(10, _inbox.ClaimsMade.Select(c => c.ConversationId).Distinct().Count());
        await Until("the claims to be released", () => dispatcher.Claimed == 0);
    }

    [Fact]
    public async Task WorkStoredWithoutAHint_IsFoundByTheSweep()
    {
        var dispatcher = Start(new DispatchOptions { SweepInterval = TimeSpan.FromSeconds(30) });
        await Until("the first sweep", () => true);
        await Task.Delay(100);
        _inbox.Add(new StoredDelivery(1, Events.ConversationStatus, null, 4, 1, Deliveries.T0, 0), hint: false);
        await Task.Delay(100);
        Assert.Equal(0, _inbox.CommitCount + _inbox.FailureCount);

        _time.Advance(TimeSpan.FromSeconds(30));
        await Until("the sweep to claim it", () => _inbox.CommitCount + _inbox.FailureCount == 1);
        Assert.Equal(0, dispatcher.InProgress);
    }

    [Fact]
    public async Task FailingStatusRules_AreRetriedWithBackoff_ThenParked_WhileOthersGoOn()
    {
        var builtIn = File.ReadAllText(Path.Combine(Fixtures.RulesDirectory, BuiltInRules.FileName));
        _failingRules.Write(BuiltInRules.FileName, builtIn.Replace(
            "            .Match(() => delivery)\n            .Not<PriorState>",
            "            .Match(() => delivery, d => d.ConversationId != 7 || d.Status.Length / (d.Status.Length - d.Status.Length) > 0)\n            .Not<PriorState>",
            StringComparison.Ordinal));
        var dispatcher = Start(new DispatchOptions { MaxAttempts = 3, RetryDelay = TimeSpan.FromSeconds(1) }, RuleSetCompiler.Compile(_failingRules.Path));

        Store(1, 7, 1, Status.Closed, 1);
        Store(2, 8, 1, Status.Closed, 1);
        await Until("the first attempt to fail and the other conversation to commit", () => _inbox.FailureCount == 1 && _inbox.CommitCount == 1);
        _time.Advance(TimeSpan.FromMilliseconds(999));
        await Task.Delay(50);
        Assert.Equal(1, _inbox.FailureCount);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Until("the second attempt", () => _inbox.FailureCount == 2);
        _time.Advance(TimeSpan.FromMilliseconds(1999));
        await Task.Delay(50);
        Assert.Equal(2, _inbox.FailureCount);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Until("the third attempt", () => _inbox.FailureCount == 3);

        Assert.Equal([false, false, true], _inbox.Failures.Select(f => f.Park));
        Assert.All(_inbox.Failures, f => Assert.Contains("rule 'status.record-known-state'", f.Error, StringComparison.Ordinal));
        Assert.All(_inbox.Failures, f => Assert.Empty(f.Result!.StatusChanges));
        Assert.Equal(2, Assert.Single(_inbox.Commits).DeliveryId);
        await Until("the claims to be released", () => dispatcher.Claimed == 0);
    }

    [Fact]
    public async Task ARuleStuckPastTheTimeout_IsAbandoned_ItsConversationGoesOnInANewLane_AndWhenItReturnsItsLaneCommitsNothing()
    {
        // Evaluations run on their lane's thread: the watchdog gives a stuck one's conversation a new lane, and a loop in
        // place of the one held. With one loop, nothing else would move until the rule returned.
        var entered = Path.Combine(_failingRules.Path, "entered");
        var release = Path.Combine(_failingRules.Path, "release");
        File.Copy(Path.Combine(Fixtures.RulesDirectory, BuiltInRules.FileName), Path.Combine(_failingRules.Path, BuiltInRules.FileName));
        _failingRules.Write("hangs.csx", $$"""
            public class HangsOnNine : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery, d => Wait(d));
                    Then().Do(ctx => ctx.Enqueue("x"));
                }

                private static bool Wait(Delivery d)
                {
                    if (d.ConversationId == 9 && !System.IO.File.Exists(@"{{release}}"))
                    {
                        System.IO.File.WriteAllText(@"{{entered}}", "");
                        while (!System.IO.File.Exists(@"{{release}}"))
                        {
                            System.Threading.Thread.Sleep(5);
                        }
                    }

                    return false;
                }
            }
            """);
        var rules = RuleSetCompiler.Compile(_failingRules.Path, severities: RuleDiagnosticSeverities.With([new("FSR0004", "none")]));
        var dispatcher = Start(new DispatchOptions { InFlight = 1, Workers = 2, RuleTimeout = TimeSpan.FromSeconds(1) }, rules, run: false);
        Store(1, 9, 1, Status.Closed, 1);
        Store(2, 9, 2, Status.Active, 2);

        // Work waiting when the dispatcher starts: its caller gets its task back, not a thread stuck in the rule.
        using var returned = new ManualResetEventSlim();
        new Thread(() =>
        {
            _ = dispatcher.RunAsync(_stop.Token);
            returned.Set();
        }) { IsBackground = true }.Start();
        Assert.True(returned.Wait(TimeSpan.FromSeconds(5)), "RunAsync ran the stuck rule on its caller's thread");
        await Until("the rule to hang", () => File.Exists(entered));

        _time.Advance(TimeSpan.FromSeconds(2));
        _watchdog.Check();
        await Until("both deliveries of the conversation to be parked", () => _inbox.FailureCount == 2);
        Store(3, 10, 1, Status.Closed, 1);
        await Until("another conversation to go on", () => _inbox.CommitCount == 1);

        Assert.Equal([1L, 2], _inbox.Failures.Select(f => f.DeliveryId));
        Assert.All(_inbox.Failures, f => Assert.True(f.Park));
        Assert.StartsWith("The evaluation was abandoned: delivery 1 (convo.status) of conversation 9 has been in rule 'HangsOnNine'", _inbox.Failures[0].Error, StringComparison.Ordinal);
        Assert.StartsWith("Not evaluated: an earlier delivery of this conversation is stuck", _inbox.Failures[1].Error, StringComparison.Ordinal);

        Assert.Single(_watchdog.Stuck);
        Assert.Equal(1, dispatcher.InProgress); // the abandoned one, on the thread its rule holds

        // The rule returns at last: its old lane commits nothing, its loop leaves, and the one added in its place goes on
        // (with none, the conversation's next delivery would wait forever; with the old one too, two loops would run).
        File.WriteAllText(release, "");
        await Until("the abandoned evaluation to return", () => _watchdog.Stuck.Count == 0 && dispatcher.InProgress == 0);
        Store(4, 9, 3, Status.Closed, 3);
        await Until("the conversation's next delivery to be evaluated again and committed", () => _inbox.CommitCount == 2);

        Assert.Equal([3L, 4], _inbox.CommittedIds());
        Assert.Equal(2, _inbox.FailureCount);
        await Until("the claims to be released", () => dispatcher.Claimed == 0);
    }

    [Fact]
    public async Task StorageFailure_KeepsTheDeliveryAtTheHeadOfItsLane_AndCommitsItOnceAfterTheDelay()
    {
        _inbox.FailNextCommits = 1;
        var dispatcher = Start(new DispatchOptions { RetryDelay = TimeSpan.FromSeconds(5) });

        Store(1, 1, 1, Status.Active, 1);
        Store(2, 1, 2, Status.Closed, 2);
        await Until("the failed commit to be used up", () => _inbox.FailNextCommits == 0);
        await Task.Delay(50);
        Assert.Equal(0, _inbox.CommitCount);
        _time.Advance(TimeSpan.FromSeconds(5));
        await Until("both to commit", () => _inbox.CommitCount == 2);

        Assert.Equal([1L, 2], _inbox.CommittedIds());
        Assert.Equal("active->closed", _inbox.Commits[1].StatusChanges.Select(c => $"{c.From}->{c.To}").Single());
    }

    [Fact]
    public async Task PendingDeliveriesLeftByAPreviousRun_AreClaimedByTheFirstSweep_AndABodyThatNoLongerParsesIsParked()
    {
        static byte[] Body(string status, int seconds)
        {
            var json = Fixtures.Json("convo.status.closed.on-reply");
            json["id"] = 3;
            json["status"] = status;
            json["updatedAt"] = Deliveries.T0.AddSeconds(seconds).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
            return Encoding.UTF8.GetBytes(json.ToJsonString());
        }

        _inbox.Add(new StoredDelivery(1, Events.ConversationStatus, Body(Status.Active, 1), 3, 1, Deliveries.T0, 0), hint: false);
        _inbox.Add(new StoredDelivery(2, Events.ConversationStatus, "{\"id\":"u8.ToArray(), 3, 2, Deliveries.T0, 0), hint: false);
        _inbox.Add(new StoredDelivery(3, Events.ConversationStatus, Body(Status.Closed, 3), 3, 3, Deliveries.T0, 1), hint: false);
        Start(new DispatchOptions());

        // No recovery step: the first sweep claims what a previous run left.
        await Until("two commits and one parked", () => _inbox.CommitCount == 2 && _inbox.FailureCount == 1);

        Assert.Equal([1L, 3], _inbox.CommittedIds());
        var parked = Assert.Single(_inbox.Failures);
        Assert.True(parked.Park);
        Assert.Equal(2, parked.DeliveryId);
        Assert.Equal("active->closed", _inbox.Commits[1].StatusChanges.Select(c => $"{c.From}->{c.To}").Single());
    }

    [Fact]
    public async Task AStoredTimerThatCannotBeRead_IsParkedSayingSo_AndItsConversationGoesOn()
    {
        var firing = new TimerFiring(3, "survey", 1, Deliveries.T0, Deliveries.T0, "R").ToJson();
        _inbox.Add(new StoredDelivery(1, TimerFiring.Event, "{\"name\":"u8.ToArray(), 3, 1, Deliveries.T0, 0));
        _inbox.Add(new StoredDelivery(2, TimerFiring.Event, """{"conversationId":3}"""u8.ToArray(), 3, 2, Deliveries.T0, 0));
        _inbox.Add(new StoredDelivery(3, TimerFiring.Event, firing, 3, 3, Deliveries.T0, 0));
        Start(new DispatchOptions());

        await Until("one commit and two parked", () => _inbox.CommitCount == 1 && _inbox.FailureCount == 2);

        Assert.Equal([3L], _inbox.CommittedIds());
        Assert.All(_inbox.Failures, f => Assert.True(f.Park));
        Assert.StartsWith("The stored timer is not readable:", _inbox.Failures.Single(f => f.DeliveryId == 1).Error, StringComparison.Ordinal);
        Assert.Equal("The stored timer misses its name, conversation or rule.", _inbox.Failures.Single(f => f.DeliveryId == 2).Error);
        Assert.Empty(_inbox.Commits[0].StatusChanges);
    }
}
