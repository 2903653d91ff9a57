using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Explain;
using FreeScoutRules.Engine.JsonLines;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Replay;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Timers;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules explain [--rules DIR] (--events FILE --line N | [--data-dir DIR] --delivery ID) [--json]</c>:
/// runs the deliveries before the one asked for (the file's earlier lines, or the stored delivery's
/// conversation history) through the evaluation pipeline with the settings <c>serve</c> uses, then
/// evaluates that delivery the same way with NRules' events recorded and lists every rule, whether it
/// fired, and for one that did not, the first condition that failed.
/// </summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var rules = CommonOptions.RulesFolder();
        var events = new Option<FileInfo>("--events") { Description = "JSON Lines of deliveries, as for test (with --line)." };
        var line = new Option<int?>("--line") { Description = "The line of the delivery to explain (1-based)." };
        var dataDir = CommonOptions.DataDirectory("A server's data directory (read only; with --delivery).");
        var deliveryId = new Option<long?>("--delivery") { Description = "The id of a stored delivery to explain." };
        var json = new Option<bool>("--json") { Description = "One JSON object a rule: {\"rule\",\"file\",\"fired\",\"reason\",\"dependsOn\"}." };
        var acceptCustom = new Option<bool>("--accept-custom-events")
        {
            Description = "Accept event names FreeScout never sends, as custom Workflows events with a conversation body (as test).",
        };
        var severity = CommonOptions.Severity();
        var command = new Command("explain", "For one delivery (a JSON Lines line, or a stored one), list every rule, whether it fired, and why not.")
        {
            rules, events, line, dataDir, deliveryId, json, acceptCustom, severity,
        };
        command.Validators.Add(result =>
        {
            var fromFile = result.GetValue(events) is not null && result.GetValue(line) is not null && result.GetValue(deliveryId) is null;
            var fromStore = result.GetValue(deliveryId) is not null && result.GetValue(events) is null && result.GetValue(line) is null;
            if (!fromFile && !fromStore)
            {
                result.AddError("Give either --events FILE --line N, or --delivery ID (with the server's --data-dir, or its Storage:Provider=postgres settings).");
            }
        });
        command.SetAction((result, cancellationToken) =>
        {
            var flags = CommonOptions.Flags(result.GetValue(rules), result.GetValue(dataDir), result.GetValue(severity), result.InvocationConfiguration.Error);
            var (output, error) = (result.InvocationConfiguration.Output, result.InvocationConfiguration.Error);
            return result.GetValue(events) is { } file
                ? RunAsync(flags, file, result.GetValue(line)!.Value, result.GetValue(acceptCustom), result.GetValue(json), output, error, cancellationToken)
                : RunStoredAsync(flags, result.GetValue(deliveryId)!.Value, result.GetValue(json), output, error, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunStoredAsync(
        Dictionary<string, string?>? flags, long deliveryId, bool json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
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
            history = await storage.Inbox.GetStoredAsync(deliveryId, cancellationToken) is { } target
                ? await storage.History.LoadHistoryAsync(target.ConversationId, cancellationToken)
                : [];
        }
        catch (StorageException ex)
        {
            await error.WriteLineAsync($"cannot read: {ex.Message}");
            return ExitCodes.CannotRun;
        }

        if (history.Count == 0)
        {
            await error.WriteLineAsync($"delivery {deliveryId}: no such conversation delivery in {storage.Location}.");
            return ExitCodes.BadInput;
        }

        var explained = await StoredDeliveryExplainer.ExplainWithinAsync(settings.Dispatch.RuleTimeout, generation, pipeline, history, deliveryId, cancellationToken);
        if (explained.Problem is { } problem)
        {
            await error.WriteLineAsync(problem);
            return ExitCodes.BadInput;
        }

        await WriteAsync(output, json, $"delivery {deliveryId}", explained.Header, explained.Rules, explained.Result!, pipeline.Settings);
        if (!json && history.Single(d => d.Id == deliveryId) is { Result: { } recorded, Outcome: var outcome })
        {
            await output.WriteLineAsync($"  the server recorded: {(recorded.RulesFired.Count == 0 ? "no rule fired" : "fired " + string.Join(", ", recorded.RulesFired))} ({outcome})");
        }

        return explained.Result!.Failures.Count == 0 ? ExitCodes.Ok : ExitCodes.BadInput;
    }

    private static async Task<int> RunAsync(
        Dictionary<string, string?>? flags, FileInfo eventsFile, int target, bool acceptCustom, bool json, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        if (await CommonOptions.LoadAsync(flags, error) is not var (_, generation, pipeline))
        {
            return ExitCodes.CannotRun;
        }

        if (!eventsFile.Exists)
        {
            await error.WriteLineAsync($"{eventsFile}: cannot read: the file does not exist.");
            return ExitCodes.CannotRun;
        }

        var evaluator = new OfflineEvaluator(generation, pipeline);
        using var reader = new StreamReader(eventsFile.FullName);
        await foreach (var line in DeliveryLineReader.ReadAsync(reader, new DeliveryParser(new DeliveryParserOptions { AcceptCustomEvents = acceptCustom, AcceptReconciled = true }), cancellationToken))
        {
            if (line.LineNumber > target)
            {
                break;
            }

            // Time as `test` runs it: timers due before a line fire first, in due order.
            if (line.Clock is { } clock)
            {
                if (line.LineNumber == target)
                {
                    await error.WriteLineAsync($"line {target}: a clock line; explain a delivery's line.");
                    return ExitCodes.BadInput;
                }

                await evaluator.FireDueAsync(clock, (_, _) => { }, cancellationToken);
                continue;
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

            var at = line.At ?? conversation.UpdatedAt!.Value;
            await evaluator.FireDueAsync(at, (_, _) => { }, cancellationToken);
            var delivery = new Delivery($"line:{line.LineNumber}", line.Event!, at, conversation);
            if (line.LineNumber < target)
            {
                await evaluator.ProcessAsync(delivery, cancellationToken: cancellationToken);
                continue;
            }

            var (explanations, result) = await RuleExplainer.ExplainAsync(evaluator, delivery, cancellationToken);
            await WriteAsync(output, json, $"line {target}", StoredDeliveryExplainer.Header(delivery), explanations, result, pipeline.Settings);
            return result.Failures.Count == 0 ? ExitCodes.Ok : ExitCodes.BadInput;
        }

        await error.WriteLineAsync($"{eventsFile}: has no delivery on line {target}.");
        return ExitCodes.BadInput;
    }

    private static async Task WriteAsync(
        TextWriter output, bool json, string where, string header, IReadOnlyList<RuleExplanation> explanations, EvaluationResult result,
        PipelineSettings settings)
    {
        if (!json)
        {
            await output.WriteLineAsync($"{where}: {header}");
            await output.WriteLineAsync($"  facts: {string.Join(", ", result.Facts)}; settings: {settings}");
            if (result.BuiltInFailed)
            {
                await output.WriteLineAsync("  the built-in status rules failed: nothing of this delivery counts (the server retries it, then parks it)");
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
                    writer.WriteStartArray("dependsOn");
                    foreach (var setting in rule.DependsOn)
                    {
                        writer.WriteStringValue(setting);
                    }

                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }

                await output.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray()));
                continue;
            }

            var depends = rule.DependsOn.Count == 0 ? "" : $" [depends on {string.Join(", ", rule.DependsOn)}]";
            await output.WriteLineAsync(rule.Fired
                ? $"  fired      {rule.Rule}  ({Path.GetFileName(rule.File)}){(rule.Reason is null ? "" : ": " + rule.Reason)}{depends}"
                : $"  not fired  {rule.Rule}  ({Path.GetFileName(rule.File)}): {rule.Reason}{depends}");
        }
    }
}
