using System.Runtime.CompilerServices;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>Claims for tests that commit to a store directly, as dispatch would: one instance per store, joined on first use.</summary>
internal static class TestClaims
{
    private static readonly ConditionalWeakTable<object, InstanceLease> Instances = [];

    /// <summary>This test's instance of <paramref name="leases"/>, joined once.</summary>
    public static async Task<InstanceLease> InstanceAsync(this ILeases leases)
    {
        if (Instances.TryGetValue(leases, out var instance))
        {
            return instance;
        }

        instance = await leases.JoinAsync("test", TimeSpan.FromHours(1), default);
        Instances.AddOrUpdate(leases, instance);
        return instance;
    }

    /// <summary>Claims the conversation (it must have a pending delivery) for the test's instance.</summary>
    public static async Task<ConversationClaim> ClaimForTestAsync(this SqliteStorage storage, int conversationId)
    {
        var claims = await storage.ClaimAsync(await storage.InstanceAsync(), [conversationId], 1, default);
        return Assert.Single(claims);
    }

    /// <summary>
    /// Claims the due intents for the test's instance as the action runner does, with room for <paramref name="limit"/>,
    /// of one destination too, except the <paramref name="full"/> destinations (no room left).
    /// </summary>
    public static async Task<IReadOnlyList<DueIntent>> ClaimDueForTestAsync(
        this SqliteStorage storage, int limit = 10, IReadOnlySet<string>? unordered = null, IEnumerable<string>? full = null)
    {
        var slots = new IntentSlots(limit, limit, (full ?? []).ToDictionary(d => d, _ => limit, StringComparer.Ordinal));
        var claimed = await storage.ClaimDueAsync(await storage.InstanceAsync(), slots, unordered ?? new HashSet<string>(StringComparer.Ordinal), default);
        return claimed.Intents;
    }

    /// <summary>The intents due now (see <see cref="ClaimDueForTestAsync"/>): claimed, then given back, so that they stay due.</summary>
    public static async Task<IReadOnlyList<DueIntent>> DueForTestAsync(
        this SqliteStorage storage, int limit = 10, IReadOnlySet<string>? unordered = null, IEnumerable<string>? full = null)
    {
        var due = await storage.ClaimDueForTestAsync(limit, unordered, full);
        foreach (var intent in due)
        {
            Assert.True(await storage.ReleaseAsync(intent.Claim, default));
        }

        return due;
    }

    /// <summary>Claims through the writer directly, for tests of write operations without a <see cref="SqliteStorage"/>.</summary>
    public static async Task<ConversationClaim> ClaimForTestAsync(this InboxWriter writer, int conversationId)
    {
        var instance = await writer.SubmitAsync(new JoinOperation("test", DateTimeOffset.UtcNow, TimeSpan.FromHours(1)));
        return Assert.Single(await writer.SubmitAsync(new ClaimConversationsOperation(instance.Id, [conversationId], 1, DateTimeOffset.UtcNow)));
    }
}
