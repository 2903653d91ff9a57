using System.Globalization;
using System.Text.Json.Nodes;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Processing;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Replay;

/// <summary>A status change or action intent that a replay adds to, or takes away from, what happened.</summary>
internal sealed record ReplayDifference(
    long DeliveryId, string Event, int ConversationId, bool Added, string Kind, string Description);

/// <summary>What a replay did: how many deliveries ran, the differences, and the deliveries whose new rules failed.</summary>
internal sealed record ReplayReport(int Replayed, int Compared, IReadOnlyList<ReplayDifference> Differences, IReadOnlyList<string> Failures);

/// <summary>
/// Runs stored deliveries again through another rule generation, with fresh in-memory state and no
/// side effect (nothing is written, no action runs), and compares what it derives with what the
/// server recorded. Every delivery of the chosen conversations runs, so the state is the one those
/// rules would have built; only deliveries received in [since, until) are compared.
/// </summary>
internal static class Replayer
{
    /// <summary>One spelling for arguments on both sides: stored results escape differently from fresh intents.</summary>
    private static readonly System.Text.Json.JsonSerializerOptions Canonical = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static async Task<ReplayReport> ReplayAsync(
        IReadOnlyList<(StoredPendingDelivery Delivery, string Outcome, DeliveryResult? Result)> history,
        RuleSetGeneration rules, DateTimeOffset? since, DateTimeOffset? until, CancellationToken cancellationToken)
    {
        var parser = new DeliveryParser(new DeliveryParserOptions { AcceptCustomEvents = true });
        var processor = new DeliveryProcessor(rules, new InMemoryConversationStateStore());
        var differences = new List<ReplayDifference>();
        var failures = new List<string>();
        var compared = 0;
        foreach (var (stored, _, result) in history)
        {
            if (stored.ToDelivery(parser, out var problem) is not { } delivery)
            {
                failures.Add($"delivery {stored.Id}: {problem}");
                continue;
            }

            Evaluation? evaluation = null;
            try
            {
                evaluation = await processor.ProcessAsync(delivery, cancellationToken);
            }
            catch (RuleFailedException ex)
            {
                failures.Add($"delivery {stored.Id}: {ex.Message}");
            }

            if ((since is not null && stored.ReceivedAt < since) || (until is not null && stored.ReceivedAt >= until))
            {
                continue;
            }

            compared++;
            var before = Describe(result);
            var after = Describe(evaluation);
            Diff(stored, before.Changes, after.Changes, "statusChanged", differences);
            Diff(stored, before.Intents, after.Intents, "action", differences);
        }

        return new ReplayReport(history.Count, compared, differences, failures);
    }

    private static (List<string> Changes, List<string> Intents) Describe(DeliveryResult? result) => result is null
        ? ([], [])
        : ([.. result.StatusChanges.Select(c => Change(c.From, c.To, c.Via))],
           [.. result.ActionIntents.Select(i => Intent(i.Rule, i.Action, i.Arguments.GetRawText()))]);

    private static (List<string> Changes, List<string> Intents) Describe(Evaluation? evaluation) => evaluation is null
        ? ([], [])
        : ([.. evaluation.StatusChanges.Select(c => Change(c.From, c.To, c.Via))],
           [.. evaluation.Intents.Select(i => Intent(i.Rule, i.Action, i.Arguments))]);

    private static string Change(string? from, string to, string via) => $"status {from ?? "(unknown)"} -> {to} via {via}";

    private static string Intent(string rule, string action, string arguments) =>
        $"action {action} {JsonNode.Parse(arguments)?.ToJsonString(Canonical)} (rule {rule})";

    /// <summary>Multiset difference: what only one side has, each item once per extra occurrence.</summary>
    private static void Diff(StoredPendingDelivery stored, List<string> before, List<string> after, string kind, List<ReplayDifference> differences)
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
