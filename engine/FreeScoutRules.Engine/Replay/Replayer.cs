using System.Text.Json.Nodes;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Engine.Replay;

/// <summary>A status change or action intent that a replay adds to, or takes away from, what happened.</summary>
internal sealed record ReplayDifference(
    long DeliveryId, string Event, int ConversationId, bool Added, string Kind, string Description);

/// <summary>What a replay did: how many deliveries ran, the differences, and the deliveries whose new rules failed.</summary>
/// <remarks>Pruned: deliveries whose bodies retention deleted; they cannot run again, so the state after them may differ.</remarks>
internal sealed record ReplayReport(int Replayed, int Compared, IReadOnlyList<ReplayDifference> Differences, IReadOnlyList<string> Failures, int Pruned = 0);

/// <summary>
/// A dry run against history: runs stored deliveries again through a rule generation with the
/// <see cref="OfflineEvaluator"/> (the pipeline the server runs, with fresh in-memory state and no side
/// effect: nothing is written, no action runs), and compares what it derives with what the server
/// recorded. Every delivery of the chosen conversations runs, so the state is the one those rules
/// would have built; only deliveries received in [since, until) are compared.
/// </summary>
internal static class Replayer
{
    /// <summary>One spelling for arguments on both sides: stored results escape differently from fresh intents.</summary>
    private static readonly System.Text.Json.JsonSerializerOptions Canonical = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static async Task<ReplayReport> ReplayAsync(
        IReadOnlyList<StoredDelivery> history, OfflineEvaluator evaluator, DateTimeOffset? since, DateTimeOffset? until, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(evaluator);
        var differences = new List<ReplayDifference>();
        var failures = new List<string>();
        var compared = 0;
        var pruned = 0;
        foreach (var stored in history)
        {
            if (stored.Body is null)
            {
                pruned++;
                continue;
            }

            // A webhook's delivery runs as a delivery, a timer's firing as that firing (the history holds the firings that
            // happened; timers the new rules schedule differently show as `timer` differences).
            var (run, problem) = await evaluator.RunStoredAsync(stored, cancellationToken: cancellationToken);
            if (run?.Result is not { } result)
            {
                failures.Add($"delivery {stored.Id}: {problem}");
                continue;
            }

            if (result.Failures.Count > 0)
            {
                failures.Add($"delivery {stored.Id}: {result.DescribeFailures()}");
            }

            if ((since is not null && stored.ReceivedAt < since) || (until is not null && stored.ReceivedAt >= until))
            {
                continue;
            }

            compared++;
            var before = Describe(stored.Outcome == DeliveryOutcome.Done ? stored.Result : null);
            var after = Describe(result.BuiltInFailed ? null : result.ToRecord());
            Diff(stored, before.Changes, after.Changes, "statusChanged", differences);
            Diff(stored, before.Intents, after.Intents, "action", differences);
            Diff(stored, before.Timers, after.Timers, "timer", differences);
        }

        return new ReplayReport(history.Count - pruned, compared, differences, failures, pruned);
    }

    private static (List<string> Changes, List<string> Intents, List<string> Timers) Describe(DeliveryResult? result) => result is null
        ? ([], [], [])
        : ([.. result.StatusChanges.Select(c => $"status {c.From ?? "(unknown)"} -> {c.To} via {c.Via}")],
           [.. result.ActionIntents.Select(i => $"action {i.Action} {JsonNode.Parse(i.Arguments.GetRawText())?.ToJsonString(Canonical)} (rule {i.Rule})")],
           [.. (result.Timers ?? []).Select(t => t.DueAt is { } due
               ? $"timer {t.Name} of conversation {t.ConversationId} due {due.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ} (rule {t.Rule})"
               : $"timer {t.Name} of conversation {t.ConversationId} cancelled (rule {t.Rule})")]);

    /// <summary>Multiset difference: what only one side has, each item once per extra occurrence.</summary>
    private static void Diff(StoredDelivery stored, List<string> before, List<string> after, string kind, List<ReplayDifference> differences)
    {
        var remaining = new List<string>(before);
        foreach (var item in after)
        {
            if (!remaining.Remove(item))
            {
                differences.Add(new ReplayDifference(stored.Id, stored.Event, stored.ConversationId, true, kind, item));
            }
        }

        differences.AddRange(remaining.Select(item => new ReplayDifference(stored.Id, stored.Event, stored.ConversationId, false, kind, item)));
    }
}
