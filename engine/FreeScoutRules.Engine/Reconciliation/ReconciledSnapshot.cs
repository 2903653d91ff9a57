using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Reconciliation;

/// <summary>
/// A conversation read from FreeScout's API that is newer than its known state, stored as a delivery of that
/// conversation with the event <see cref="EngineEvents.Reconciliation"/> and the API's JSON as its body: from
/// there it is a delivery like a webhook's (its conversation's lane, the built-in status rules, recovery, history).
/// </summary>
internal static class ReconciledSnapshot
{
    public const string Event = EngineEvents.Reconciliation;

    /// <summary>
    /// What makes two reconciled snapshots the same delivery: the conversation and its <c>updatedAt</c>. Not the
    /// bytes: the API's JSON holds text that changes with the clock (<c>customerWaitingSince.friendly</c>), and one
    /// version of a conversation is stored once however often it is listed.
    /// </summary>
    public static byte[] DedupeKey(int conversationId, DateTimeOffset updatedAt) =>
        SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{Event}\n{conversationId}\n{updatedAt.ToUnixTimeSeconds()}")));
}
