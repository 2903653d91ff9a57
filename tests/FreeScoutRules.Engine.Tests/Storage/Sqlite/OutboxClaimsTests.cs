using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// The outbox by claims (issue 21): due intents are claimed under an instance's lease with a token, a live holder's
/// intents are nobody else's, an expired holder's are taken over with the same idempotency key, and the record of an
/// attempt under a lost claim is refused, writing nothing. Two live instances on one SQLite store are two joins (the
/// store ends earlier instances only when a process opens it); the store's clock is a <see cref="FakeTimeProvider"/>.
/// </summary>
public sealed class OutboxClaimsTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(5);
    private static readonly IReadOnlySet<string> Ordered = new HashSet<string>(StringComparer.Ordinal);
    private readonly TempDirectory _data = new();
    private readonly FakeTimeProvider _clock = new(At);

    public void Dispose() => _data.Dispose();

    private static IntentSlots Room(int limit = 10) => new(limit, limit, new Dictionary<string, int>(StringComparer.Ordinal));

    /// <summary>Commits a delivery of <paramref name="conversationId"/> with intents of action <c>call</c> to <paramref name="destinations"/>, in that order.</summary>
    private static async Task CommitAsync(SqliteStorage storage, int conversationId, params string[] destinations)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"id\":{conversationId},\"n\":\"{Guid.NewGuid():N}\"}}");
        var stored = await storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), conversationId, At), default);
        ActionIntent[] intents = [.. destinations.Select(d => new ActionIntent("r", "call", conversationId, $$"""{"to":"{{d}}"}"""))];
        await storage.CommitEvaluationAsync(
            new EvaluationCommit(stored.DeliveryId, conversationId, stored.Sequence!.Value, At, "g", null, [], intents, new DeliveryResult([], [], [], false), null, destinations)
            {
                Claim = await storage.ClaimForTestAsync(conversationId),
            },
            default);
    }

    private AttemptCommit Attempt(DueIntent intent, string outcome, string state, DateTimeOffset? next = null) =>
        new(intent.Claim, intent.Attempts + 1, _clock.GetUtcNow(), TimeSpan.FromMilliseconds(12), outcome, outcome == AttemptOutcome.Done ? null : "answered 500", state, next);

    /// <summary>The intent's claim columns as stored.</summary>
    private async Task<(long? Instance, string? Token, long? At)> ClaimColumnsAsync(long intentId)
    {
        await using var connection = await new SqliteDatabase(new SqliteOptions { DataDirectory = _data.Path, Durable = false }).OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT claim_instance, claim_token, claimed_at FROM action_intents WHERE id = $id";
        command.Parameters.AddWithValue("$id", intentId);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.IsDBNull(0) ? null : reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2));
    }

    [Fact]
    public async Task AClaimOfALiveInstance_IsNobodyElses_AfterItsLeaseExpiresAnotherTakesItWithTheSameKey_AndTheLateRecordIsRefusedWritingNothing()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path, time: _clock);
        var storage = running.Storage;
        await CommitAsync(storage, 7, "hook");
        var a = await storage.JoinAsync("A", Lease, default);
        var b = await storage.JoinAsync("B", Lease, default);

        var byA = Assert.Single((await storage.ClaimDueAsync(a, Room(), Ordered, default)).Intents);
        Assert.Equal((a.Id, byA.Id), (byA.Claim.InstanceId, byA.Claim.IntentId));
        Assert.Matches("^[0-9a-f]{32}$", byA.Claim.Token);
        Assert.Equal((a.Id, byA.Claim.Token, At.ToUnixTimeMilliseconds()), await ClaimColumnsAsync(byA.Id));

        // A's lease lives (B renews its own): the intent is not due for B, nor for A again.
        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.True(await storage.RenewAsync(b, Lease, default));
        var none = await storage.ClaimDueAsync(b, Room(), Ordered, default);
        Assert.Equal((0, false), (none.Intents.Count, none.More));
        Assert.Empty((await storage.ClaimDueAsync(a, Room(), Ordered, default)).Intents);

        // A's lease expires unrenewed: A claims nothing any more, B takes the intent over with a new token and the same key.
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Empty((await storage.ClaimDueAsync(a, Room(), Ordered, default)).Intents);
        var byB = Assert.Single((await storage.ClaimDueAsync(b, Room(), Ordered, default)).Intents);
        Assert.Equal((byA.Id, byA.IdempotencyKey, b.Id), (byB.Id, byB.IdempotencyKey, byB.Claim.InstanceId));
        Assert.Equal($"fsr-{storage.InstallationId}-{byA.Id}", byB.IdempotencyKey);
        Assert.NotEqual(byA.Claim.Token, byB.Claim.Token);
        Assert.Equal(0, byB.Attempts);

        // A's attempt ends late: its record is refused, and nothing of it is written.
        var lost = await Assert.ThrowsAsync<ClaimLostException>(() => storage.RecordAttemptAsync(Attempt(byA, AttemptOutcome.Done, IntentState.Done), default));
        Assert.Equal(
            $"The claim of instance {a.Id} on action intent {byA.Id} is lost: instance {b.Id} holds it now (it is pending). Its attempt's record was not written; the other holder's attempt stands.",
            lost.Message);
        var intent = Assert.Single(await storage.ListAsync(null, null, 10, default));
        Assert.Equal((IntentState.Pending, 0, 0), (intent.State, intent.Attempts, intent.AttemptLog.Count));
        var (holder, token, _) = await ClaimColumnsAsync(byA.Id);
        Assert.Equal((b.Id, byB.Claim.Token), (holder, token));

        // B's record stands and ends the claim; A's, tried again, is still refused.
        await storage.RecordAttemptAsync(Attempt(byB, AttemptOutcome.Done, IntentState.Done), default);
        await Assert.ThrowsAsync<ClaimLostException>(() => storage.RecordAttemptAsync(Attempt(byA, AttemptOutcome.Done, IntentState.Done), default));
        intent = Assert.Single(await storage.ListAsync(null, null, 10, default));
        Assert.Equal((IntentState.Done, 1), (intent.State, intent.Attempts));
        Assert.Equal((1, AttemptOutcome.Done), (Assert.Single(intent.AttemptLog).Attempt, intent.AttemptLog[0].Outcome));
        Assert.Equal((null, null, null), await ClaimColumnsAsync(byA.Id));
        Assert.False(await storage.ReleaseAsync(byA.Claim, default)); // a lost claim cannot be given back either
    }

    [Fact]
    public async Task TwoIntentsOfOneConversationAndDestination_AreNeverClaimableAtOnce_WhoeverAsks()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path, time: _clock);
        var storage = running.Storage;
        await CommitAsync(storage, 7, "a", "a", "b");
        await CommitAsync(storage, 8, "a");
        var a = await storage.JoinAsync("A", Lease, default);
        var b = await storage.JoinAsync("B", TimeSpan.FromHours(1), default);

        // The oldest of conversation 7 for "a" (1), the one for "b" (3), conversation 8's (4); never 2 while 1 is pending.
        var first = (await storage.ClaimDueAsync(a, Room(), Ordered, default)).Intents;
        Assert.Equal([1L, 3, 4], first.Select(i => i.Id));
        Assert.Empty((await storage.ClaimDueAsync(b, Room(), Ordered, default)).Intents);

        // 1 fails and waits for its next attempt: still the oldest pending, it holds 2 back, claimed by nobody.
        await storage.RecordAttemptAsync(Attempt(first[0], AttemptOutcome.Retryable, IntentState.Pending, At.AddSeconds(10)), default);
        Assert.Equal((null, null, null), await ClaimColumnsAsync(1));
        Assert.Empty((await storage.ClaimDueAsync(b, Room(), Ordered, default)).Intents);

        // A's lease expires: its claims on 3 and 4 are taken over; 1's time comes, and it goes before 2 again.
        _clock.Advance(TimeSpan.FromSeconds(11));
        var second = (await storage.ClaimDueAsync(b, Room(), Ordered, default)).Intents;
        Assert.Equal([1L, 3, 4], second.Select(i => i.Id));
        Assert.Equal(1, second[0].Attempts);

        // Once 1 is done, 2 is the oldest pending of conversation 7 and "a", and only then claimable.
        await storage.RecordAttemptAsync(Attempt(second[0], AttemptOutcome.Done, IntentState.Done), default);
        Assert.Equal([2L], (await storage.ClaimDueAsync(b, Room(), Ordered, default)).Intents.Select(i => i.Id));
    }

    [Fact]
    public async Task AClaimTakesOnlyWhatItsSlotsHaveRoomFor_AndSaysWhenMoreWasDue()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path, time: _clock);
        var storage = running.Storage;
        for (var c = 1; c <= 4; c++)
        {
            await CommitAsync(storage, c, "slow", "fast");
        }

        var a = await storage.JoinAsync("A", Lease, default);

        // Room for 3, at most 2 per destination, "slow" having 1 in flight already: 1 slow, then 2 fast; more were due.
        var claimed = await storage.ClaimDueAsync(a, new IntentSlots(3, 2, new Dictionary<string, int> { ["slow"] = 1 }), Ordered, default);
        Assert.Equal([("slow", 1), ("fast", 1), ("fast", 2)], claimed.Intents.Select(i => (i.Destination, i.ConversationId)));
        Assert.True(claimed.More);

        // A full destination is left out altogether; nothing claimed twice.
        var next = await storage.ClaimDueAsync(a, new IntentSlots(10, 2, new Dictionary<string, int> { ["slow"] = 2 }), Ordered, default);
        Assert.Equal([("fast", 3), ("fast", 4)], next.Intents.Select(i => (i.Destination, i.ConversationId)));
        Assert.False(next.More);
        var noRoom = await storage.ClaimDueAsync(a, new IntentSlots(0, 2, new Dictionary<string, int>()), Ordered, default);
        Assert.Equal((0, false), (noRoom.Intents.Count, noRoom.More));
    }

    [Fact]
    public async Task AClaimGivenBack_IsDueAtOnce_AndARetryOfADeadIntentClearsAnyClaim()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path, time: _clock);
        var storage = running.Storage;
        await CommitAsync(storage, 7, "hook");
        var a = await storage.JoinAsync("A", TimeSpan.FromHours(1), default);
        var b = await storage.JoinAsync("B", TimeSpan.FromHours(1), default);

        // Given back without an attempt (cut short at a stop): due at once, for anyone, with the same key.
        var held = Assert.Single((await storage.ClaimDueAsync(a, Room(), Ordered, default)).Intents);
        Assert.True(await storage.ReleaseAsync(held.Claim, default));
        Assert.False(await storage.ReleaseAsync(held.Claim, default));
        Assert.Equal((null, null, null), await ClaimColumnsAsync(held.Id));
        var again = Assert.Single((await storage.ClaimDueAsync(b, Room(), Ordered, default)).Intents);
        Assert.Equal((held.Id, held.IdempotencyKey), (again.Id, again.IdempotencyKey));
        await Assert.ThrowsAsync<ClaimLostException>(() => storage.RecordAttemptAsync(Attempt(held, AttemptOutcome.Done, IntentState.Done), default));

        // Dead, then retried by hand while a claim is still on its row (written by a store that left it there): the retry
        // clears it, the intent is due for anyone at once, and a record under that claim is refused.
        await storage.RecordAttemptAsync(Attempt(again, AttemptOutcome.Failed, IntentState.Dead), default);
        Assert.Empty((await storage.ClaimDueAsync(a, Room(), Ordered, default)).Intents);
        await using (var connection = await new SqliteDatabase(new SqliteOptions { DataDirectory = _data.Path, Durable = false }).OpenAsync())
        {
            await SqliteDatabase.ExecuteAsync(connection, $"UPDATE action_intents SET claim_instance = {a.Id}, claim_token = 'stale-claim-token-of-instance-a-0001' WHERE id = {held.Id}");
        }

        Assert.True(await storage.RetryDeadAsync(held.Id, _clock.GetUtcNow(), default));
        Assert.Equal((null, null, null), await ClaimColumnsAsync(held.Id));
        await Assert.ThrowsAsync<ClaimLostException>(() => storage.RecordAttemptAsync(
            Attempt(held with { Claim = new IntentClaim(held.Id, a.Id, "stale-claim-token-of-instance-a-0001") }, AttemptOutcome.Done, IntentState.Done), default));
        var retried = Assert.Single((await storage.ClaimDueAsync(b, Room(), Ordered, default)).Intents);
        Assert.Equal((held.Id, held.IdempotencyKey, 1), (retried.Id, retried.IdempotencyKey, retried.Attempts));
        var intent = Assert.Single(await storage.ListAsync(null, null, 10, default));
        Assert.Equal((IntentState.Pending, 1), (intent.State, intent.AttemptLog.Count));
    }
}
