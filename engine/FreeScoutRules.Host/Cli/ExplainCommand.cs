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
/// <c>freescout-rules explain --rules DIR --events FILE --line N [--json]</c>: runs the deliveries of
/// FILE before line N to build the known state, like <c>test</c>, then lists for the delivery of
/// line N every rule, whether it fired, and for one that did not, the first condition that failed.
/// </summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var rules = CommonOptions.RulesFolder();
        var events = new Option<FileInfo>("--events") { Description = "JSON Lines of deliveries, as for test.", Required = true };
        var line = new Option<int>("--line") { Description = "The line of the delivery to explain (1-based).", Required = true };
        var json = new Option<bool>("--json") { Description = "One JSON object a rule: {\"rule\",\"file\",\"fired\",\"reason\"}." };
        var command = new Command("explain", "For one delivery, list every rule, whether it fired, and why not.") { rules, events, line, json };
        command.SetAction((result, cancellationToken) => RunAsync(
            result.GetRequiredValue(rules), result.GetRequiredValue(events), result.GetValue(line), result.GetValue(json),
            result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(
        DirectoryInfo rulesDirectory, FileInfo eventsFile, int target, bool json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
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
            await WriteAsync(output, json, target, delivery, explanations, failure);
            return failure is null ? ExitCodes.Ok : ExitCodes.BadInput;
        }

        await error.WriteLineAsync($"{eventsFile}: has no delivery on line {target}.");
        return ExitCodes.BadInput;
    }

    private static async Task WriteAsync(
        TextWriter output, bool json, int line, Delivery delivery, IReadOnlyList<RuleExplanation> explanations, string? failure)
    {
        if (!json)
        {
            await output.WriteLineAsync($"line {line}: {delivery.Event} #{delivery.Conversation.Number} (id {delivery.ConversationId}), status {delivery.Status} at {delivery.UpdatedAt:u}");
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
