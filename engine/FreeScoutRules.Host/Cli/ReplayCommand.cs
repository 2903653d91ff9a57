using System.CommandLine;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Replay;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules replay --data-dir DIR --rules DIR [--conversation N] [--since T] [--until T] [--json]</c>:
/// runs a server's stored deliveries through a rules folder without side effects and prints what
/// would change against what happened: status changes and action intents added or gone.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "The server's data directory (read only).", Required = true };
        var rules = CommonOptions.RulesFolder();
        var conversation = new Option<int?>("--conversation") { Description = "Only this conversation (internal id)." };
        var since = new Option<DateTimeOffset?>("--since") { Description = "Compare deliveries received at or after this time (ISO 8601)." };
        var until = new Option<DateTimeOffset?>("--until") { Description = "Compare deliveries received before this time (ISO 8601)." };
        var json = new Option<bool>("--json") { Description = "One JSON object a difference." };
        var command = new Command("replay", "Run stored deliveries through a rules folder without side effects and show what would change.")
        {
            dataDir, rules, conversation, since, until, json,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            result.GetRequiredValue(dataDir), result.GetRequiredValue(rules), result.GetValue(conversation),
            result.GetValue(since), result.GetValue(until), result.GetValue(json),
            result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(
        DirectoryInfo dataDir, DirectoryInfo rulesDirectory, int? conversation, DateTimeOffset? since, DateTimeOffset? until, bool json,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var options = new StorageOptions { DataDirectory = dataDir.FullName };
        if (!File.Exists(options.DatabasePath))
        {
            await error.WriteLineAsync($"{options.DatabasePath}: no database here (give the server's --data-dir).");
            return ExitCodes.CannotRun;
        }

        RuleSetGeneration generation;
        try
        {
            generation = RuleSetCompiler.Compile(rulesDirectory.ToString());
        }
        catch (RuleCompilationException ex)
        {
            await error.WriteLineAsync(ex.Message);
            return ExitCodes.CannotRun;
        }

        List<(StoredPendingDelivery, string, DeliveryResult?)> history;
        try
        {
            history = await new DeliveryQueries(new SqliteDatabase(options, readOnly: true)).LoadHistoryAsync(conversation, cancellationToken);
        }
        catch (SqliteException ex)
        {
            await error.WriteLineAsync($"{options.DatabasePath}: cannot read: {ex.Message}");
            return ExitCodes.CannotRun;
        }

        var report = await Replayer.ReplayAsync(history, generation, since, until, cancellationToken);
        foreach (var difference in report.Differences)
        {
            await output.WriteLineAsync(json ? Json(difference) : $"delivery {difference.DeliveryId} ({difference.Event}, conversation {difference.ConversationId}): {(difference.Added ? "+" : "-")} {difference.Description}");
        }

        foreach (var failure in report.Failures)
        {
            await error.WriteLineAsync(failure);
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
