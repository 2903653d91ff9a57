using System.CommandLine;
using FreeScoutRules.Engine.JsonLines;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules test --rules DIR --events FILE [--json]</c>: runs recorded deliveries through a
/// rules folder with fresh in-memory state, in file order, through the evaluation pipeline and with
/// the settings <c>serve</c> would use, and prints what the rules derived. No action is executed. A rule
/// that throws is reported on its line; the other rules' results still print.
/// </summary>
internal static class TestCommand
{
    public static Command Create()
    {
        var rules = CommonOptions.RulesFolder();
        var events = new Option<FileInfo>("--events")
        {
            Description = "JSON Lines of deliveries, one a line: {\"event\": \"<X-FreeScout-Event>\", \"body\": <webhook body>}; - reads standard input.",
            Required = true,
        };
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON object a line (statusChanged, action) instead of text for people.",
        };
        var acceptCustom = new Option<bool>("--accept-custom-events")
        {
            Description = "Accept event names FreeScout never sends, as custom Workflows events with a conversation body.",
        };
        var severity = CommonOptions.Severity();
        var command = new Command("test", "Run recorded deliveries through the rules and print the derived status changes and action intents; no action runs.")
        {
            rules, events, json, acceptCustom, severity,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            CommonOptions.Flags(result.GetValue(rules), null, result.GetValue(severity), result.InvocationConfiguration.Error),
            result.GetRequiredValue(events),
            result.GetValue(json),
            new DeliveryParserOptions { AcceptCustomEvents = result.GetValue(acceptCustom) },
            result.InvocationConfiguration.Output,
            result.InvocationConfiguration.Error,
            cancellationToken));
        return command;
    }

    internal static async Task<int> RunAsync(
        Dictionary<string, string?>? flags, FileInfo eventsFile, bool json, DeliveryParserOptions parserOptions,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (await CommonOptions.LoadAsync(flags, error) is not var (_, generation, pipeline))
        {
            return ExitCodes.CannotRun;
        }

        TextReader reader;
        try
        {
            reader = eventsFile.ToString() == "-" ? Console.In : new StreamReader(eventsFile.FullName);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"{eventsFile}: cannot read: {ex.Message}");
            return ExitCodes.CannotRun;
        }

        using (reader)
        {
            var report = json ? (TestReport)new JsonTestReport(output) : new TextTestReport(output);
            var evaluator = new OfflineEvaluator(generation, pipeline);
            var parser = new DeliveryParser(parserOptions);
            var counts = new TestCounts();
            await foreach (var line in DeliveryLineReader.ReadAsync(reader, parser, cancellationToken))
            {
                counts.Deliveries++;
                await RunLineAsync(line, evaluator, report, error, counts);
            }

            await report.SummaryAsync(counts);
            if (counts.Deliveries == 0)
            {
                await error.WriteLineAsync($"{eventsFile}: holds no deliveries (expected JSON Lines: {{\"event\": \"convo.status\", \"body\": {{...}}}}).");
                return ExitCodes.BadInput;
            }

            return counts.Errors == 0 && counts.RuleFailures == 0 ? ExitCodes.Ok : ExitCodes.BadInput;
        }
    }

    private static async Task RunLineAsync(
        DeliveryLine line, OfflineEvaluator evaluator, TestReport report, TextWriter error, TestCounts counts)
    {
        if (!line.Result.IsValid)
        {
            counts.Errors++;
            await error.WriteLineAsync($"line {line.LineNumber}: {line.Result.Problem.Message}");
            return;
        }

        var parsed = line.Result.Delivery;
        if (parsed.Conversation is null)
        {
            counts.Skipped++;
            await report.SkippedAsync(line.LineNumber, parsed.Event, "not a conversation event; rules run on conversation events only");
            return;
        }

        var delivery = new Delivery($"line:{line.LineNumber}", parsed.Event, TimeProvider.System.GetUtcNow(), parsed.Conversation);
        var result = evaluator.Process(delivery);
        counts.StatusChanges += result.BuiltInFailed ? 0 : result.StatusChanges.Count;
        counts.Intents += result.BuiltInFailed ? 0 : result.Intents.Count;
        counts.RuleFailures += result.Failures.Count;
        await report.EvaluatedAsync(line.LineNumber, delivery, result);
    }
}
