using System.CommandLine;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Explain;
using FreeScoutRules.Engine.JsonLines;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Processing;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules explain --rules DIR (--events FILE --line N | --data-dir DIR --delivery ID) [--json]</c>:
/// runs the deliveries before the one asked for (the file's earlier lines, or the stored delivery's
/// conversation history) to build the known state, then lists for that delivery every rule, whether
/// it fired, and for one that did not, the first condition that failed.
/// </summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var rules = CommonOptions.RulesFolder();
        var events = new Option<FileInfo>("--events") { Description = "JSON Lines of deliveries, as for test (with --line)." };
        var line = new Option<int?>("--line") { Description = "The line of the delivery to explain (1-based)." };
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "A server's data directory (read only; with --delivery)." };
        var deliveryId = new Option<long?>("--delivery") { Description = "The id of a stored delivery to explain." };
        var json = new Option<bool>("--json") { Description = "One JSON object a rule: {\"rule\",\"file\",\"fired\",\"reason\"}." };
        var command = new Command("explain", "For one delivery (a JSON Lines line, or a stored one), list every rule, whether it fired, and why not.")
        {
            rules, events, line, dataDir, deliveryId, json,
        };
        command.Validators.Add(result =>
        {
            var fromFile = result.GetResult(events) is not null || result.GetResult(line) is not null;
            var fromStore = result.GetResult(dataDir) is not null || result.GetResult(deliveryId) is not null;
            if (fromFile == fromStore || (fromFile && (result.GetValue(events) is null || result.GetValue(line) is null))
                || (fromStore && (result.GetValue(dataDir) is null || result.GetValue(deliveryId) is null)))
            {
                result.AddError("Give either --events FILE --line N, or --data-dir DIR --delivery ID.");
            }
        });
        command.SetAction((result, cancellationToken) => result.GetValue(events) is { } file
            ? RunAsync(result.GetRequiredValue(rules), file, result.GetValue(line)!.Value, result.GetValue(json),
                result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken)
            : RunStoredAsync(result.GetRequiredValue(rules), result.GetValue(dataDir)!, result.GetValue(deliveryId)!.Value, result.GetValue(json),
                result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static async Task<int> RunStoredAsync(
        DirectoryInfo rulesDirectory, DirectoryInfo dataDir, long deliveryId, bool json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var options = new Engine.Storage.StorageOptions { DataDirectory = dataDir.FullName };
        if (!File.Exists(options.DatabasePath))
        {
            await error.WriteLineAsync($"{options.DatabasePath}: no database here (give the server's --data-dir).");
            return ExitCodes.CannotRun;
        }

        if (await CompileAsync(rulesDirectory, error) is not { } generation)
        {
            return ExitCodes.CannotRun;
        }

        var queries = new Engine.Storage.DeliveryQueries(new Engine.Storage.SqliteDatabase(options, readOnly: true));
        if (await queries.GetAsync(deliveryId, cancellationToken) is not { ConversationId: { } conversationId })
        {
            await error.WriteLineAsync($"delivery {deliveryId}: no such conversation delivery in {options.DatabasePath}.");
            return ExitCodes.BadInput;
        }

        // The conversation's earlier deliveries first, so that the known state is what these rules would have built.
        var store = new InMemoryConversationStateStore();
        var processor = new DeliveryProcessor(generation, store);
        var parser = new DeliveryParser(new DeliveryParserOptions { AcceptCustomEvents = true });
        foreach (var (stored, _, _) in await queries.LoadHistoryAsync(conversationId, cancellationToken))
        {
            if (stored.ToDelivery(parser, out _) is not { } delivery)
            {
                continue;
            }

            if (stored.Id != deliveryId)
            {
                try
                {
                    await processor.ProcessAsync(delivery, cancellationToken);
                }
                catch (RuleFailedException)
                {
                }

                continue;
            }

            var (explanations, _, failure) = RuleExplainer.Explain(generation, delivery, await store.GetAsync(conversationId, cancellationToken));
            await WriteAsync(output, json, $"delivery {deliveryId}", delivery, explanations, failure);
            return failure is null ? ExitCodes.Ok : ExitCodes.BadInput;
        }

        await error.WriteLineAsync($"delivery {deliveryId}: its stored body is not a conversation.");
        return ExitCodes.BadInput;
    }

    private static async Task<RuleSetGeneration?> CompileAsync(DirectoryInfo rulesDirectory, TextWriter error)
    {
        try
        {
            return RuleSetCompiler.Compile(rulesDirectory.ToString());
        }
        catch (RuleCompilationException ex)
        {
            await error.WriteLineAsync(ex.Message);
            return null;
        }
    }

    private static async Task<int> RunAsync(
        DirectoryInfo rulesDirectory, FileInfo eventsFile, int target, bool json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (await CompileAsync(rulesDirectory, error) is not { } generation)
        {
            return ExitCodes.CannotRun;
        }

        if (!eventsFile.Exists)
        {
            await error.WriteLineAsync($"{eventsFile}: cannot read: the file does not exist.");
            return ExitCodes.CannotRun;
        }

        var store = new InMemoryConversationStateStore();
        var processor = new DeliveryProcessor(generation, store);
        using var reader = new StreamReader(eventsFile.FullName);
        await foreach (var line in DeliveryLineReader.ReadAsync(reader, new DeliveryParser(), cancellationToken))
        {
            if (line.LineNumber > target)
            {
                break;
            }

            if (line.Result.Delivery?.Conversation is not { } conversation)
            {
                if (line.LineNumber == target)
                {
                    await error.WriteLineAsync($"line {target}: {line.Result.Problem?.Message ?? "not a conversation event; rules run on conversation events only"}");
                    return ExitCodes.BadInput;
                }

                continue;
            }

            var delivery = new Delivery($"line:{line.LineNumber}", line.Event!, TimeProvider.System.GetUtcNow(), conversation);
            if (line.LineNumber < target)
            {
                try
                {
                    await processor.ProcessAsync(delivery, cancellationToken);
                }
                catch (RuleFailedException)
                {
                    // As on the server: a delivery whose rules throw changes no state.
                }

                continue;
            }

            var (explanations, _, failure) = RuleExplainer.Explain(generation, delivery, await store.GetAsync(conversation.Id, cancellationToken));
            await WriteAsync(output, json, $"line {target}", delivery, explanations, failure);
            return failure is null ? ExitCodes.Ok : ExitCodes.BadInput;
        }

        await error.WriteLineAsync($"{eventsFile}: has no delivery on line {target}.");
        return ExitCodes.BadInput;
    }

    private static async Task WriteAsync(
        TextWriter output, bool json, string where, Delivery delivery, IReadOnlyList<RuleExplanation> explanations, string? failure)
    {
        if (!json)
        {
            await output.WriteLineAsync($"{where}: {delivery.Event} #{delivery.Conversation.Number} (id {delivery.ConversationId}), status {delivery.Status} at {delivery.UpdatedAt:u}");
            if (failure is not null)
            {
                await output.WriteLineAsync($"  the rules failed: {failure}");
            }
        }

        foreach (var rule in explanations)
        {
            if (json)
            {
                using var buffer = new MemoryStream();
                using (var writer = new Utf8JsonWriter(buffer))
                {
                    writer.WriteStartObject();
                    writer.WriteString("rule", rule.Rule);
                    writer.WriteString("file", Path.GetFileName(rule.File));
                    writer.WriteBoolean("fired", rule.Fired);
                    writer.WriteString("reason", rule.Reason);
                    writer.WriteEndObject();
                }

                await output.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray()));
            }
            else
            {
                await output.WriteLineAsync(rule.Fired
                    ? $"  fired      {rule.Rule}  ({Path.GetFileName(rule.File)})"
                    : $"  not fired  {rule.Rule}  ({Path.GetFileName(rule.File)}): {rule.Reason}");
            }
        }
    }
}
