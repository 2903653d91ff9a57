using System.CommandLine;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Replay;
using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules replay --data-dir DIR --rules DIR [--conversation N] [--since T] [--until T] [--json]</c>:
/// a dry run against history: runs a server's stored deliveries through a rules folder without side
/// effects, through the evaluation pipeline with the same settings as <c>serve</c> (configuration,
/// environment, flags), and prints what would change against what happened: status changes and action
/// intents added or gone. The same rules and settings as the server report no difference.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var dataDir = CommonOptions.DataDirectory("The server's data directory (read only).");
        var rules = CommonOptions.RulesFolder();
        var conversation = new Option<int?>("--conversation") { Description = "Only this conversation (internal id)." };
        var since = new Option<DateTimeOffset?>("--since") { Description = "Compare deliveries received at or after this time (ISO 8601)." };
        var until = new Option<DateTimeOffset?>("--until") { Description = "Compare deliveries received before this time (ISO 8601)." };
        var json = new Option<bool>("--json") { Description = "One JSON object a difference." };
        var severity = CommonOptions.Severity();
        var command = new Command("replay", "Dry run against history: run stored deliveries through a rules folder without side effects and show what would change.")
        {
            dataDir, rules, conversation, since, until, json, severity,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            CommonOptions.Flags(result.GetValue(rules), result.GetValue(dataDir), result.GetValue(severity), result.InvocationConfiguration.Error),
            result.GetValue(conversation),
            result.GetValue(since), result.GetValue(until), result.GetValue(json),
            result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(
        Dictionary<string, string?>? flags, int? conversation, DateTimeOffset? since, DateTimeOffset? until, bool json,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (await CommonOptions.LoadAsync(flags, error) is not var (settings, generation, pipeline))
        {
            return ExitCodes.CannotRun;
        }

        if (CommonOptions.ServerStore(settings, error) is not { } storage)
        {
            return ExitCodes.CannotRun;
        }

        IReadOnlyList<StoredDelivery> history;
        try
        {
            history = await storage.History.LoadHistoryAsync(conversation, cancellationToken);
        }
        catch (StorageException ex)
        {
            await error.WriteLineAsync($"cannot read: {ex.Message}");
            return ExitCodes.CannotRun;
        }

        var report = await Replayer.ReplayAsync(history, new OfflineEvaluator(generation, pipeline), since, until, cancellationToken);
        foreach (var difference in report.Differences)
        {
            await output.WriteLineAsync(json ? Json(difference) : $"delivery {difference.DeliveryId} ({difference.Event}, conversation {difference.ConversationId}): {(difference.Added ? "+" : "-")} {difference.Description}");
        }

        foreach (var failure in report.Failures)
        {
            await error.WriteLineAsync(failure);
        }

        if (report.Pruned > 0)
        {
            await error.WriteLineAsync(
                $"{report.Pruned} deliveries of this range have no body any more (pruned after Retention:Bodies): they did not run again, so what follows them in their conversations may differ.");
        }

        if (!json)
        {
            await output.WriteLineAsync(
                $"{report.Replayed} deliveries replayed, {report.Compared} compared: {report.Differences.Count(d => d.Added)} added, {report.Differences.Count(d => !d.Added)} gone, {report.Failures.Count} failed");
        }

        return report.Failures.Count == 0 ? ExitCodes.Ok : ExitCodes.BadInput;
    }

    private static string Json(ReplayDifference difference)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("kind", difference.Kind);
            writer.WriteString("change", difference.Added ? "added" : "gone");
            writer.WriteNumber("deliveryId", difference.DeliveryId);
            writer.WriteNumber("conversationId", difference.ConversationId);
            writer.WriteString("event", difference.Event);
            writer.WriteString("what", difference.Description);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
