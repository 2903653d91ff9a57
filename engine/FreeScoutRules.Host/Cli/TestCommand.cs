using System.CommandLine;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.JsonLines;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules test --rules DIR --events FILE [--json] [--expect FILE [--update-expected]] [--plugins DIR]</c>: runs recorded deliveries through a
/// rules folder with fresh in-memory state, in file order, through the evaluation pipeline and with
/// the settings <c>serve</c> would use, and prints what the rules derived. No action is executed. A rule
/// that throws is reported on its line; the other rules' results still print. Timers run on the file's clock:
/// a line arrives at its <c>"at"</c> (else its snapshot's <c>updatedAt</c>), a <c>{"clock": …}</c> line moves
/// time on, and the timers due by then fire in due order before the next line. With <c>--expect</c> the
/// <c>--json</c> output is compared with a golden file, for rule tests in CI. With <c>--plugins</c>, each intent's
/// arguments are also put to its plugin as the action runner would before running it (<see cref="IntentArgumentsCheck"/>):
/// one the plugin would refuse is reported with the intent and fails the run.
/// </summary>
internal static class TestCommand
{
    public static Command Create()
    {
        var rules = CommonOptions.RulesFolder();
        var events = CommonOptions.Events();
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON object a line (statusChanged, action, ruleFailed, actionSuppressed, timer, timerScheduled, timerCancelled) instead of text for people.",
        };
        var acceptCustom = new Option<bool>("--accept-custom-events")
        {
            Description = "Accept event names FreeScout never sends, as custom Workflows events with a conversation body.",
        };
        var expect = new Option<FileInfo>("--expect")
        {
            Description = "Compare the --json output with this file: exit 0 when they match, 1 with a diff when they do not.",
        };
        var update = new Option<bool>("--update-expected")
        {
            Description = "With --expect: write the output to the file instead of comparing (review the change, then commit it).",
        };
        var severity = CommonOptions.Severity();
        var plugins = CommonOptions.PluginsFolder(
            "The server's plugins folder: the rules are checked against its actions (FSR0003, FSR0008), and each intent's arguments as its plugin would before running them (secrets' values from this configuration); arguments it would refuse fail the run.");
        var command = new Command("test", "Run recorded deliveries through the rules and print the derived status changes, action intents and timers (firing those due on the file's clock); no action runs.")
        {
            rules, events, json, acceptCustom, expect, update, severity, plugins,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(update) && result.GetValue(expect) is null)
            {
                result.AddError("--update-expected goes with --expect FILE.");
            }
        });
        command.SetAction(async (result, cancellationToken) =>
        {
            var (output, error) = (result.InvocationConfiguration.Output, result.InvocationConfiguration.Error);
            var flags = CommonOptions.Flags(result.GetValue(rules), null, result.GetValue(severity), error);
            var parserOptions = new DeliveryParserOptions { AcceptCustomEvents = result.GetValue(acceptCustom), AcceptReconciled = true };
            var pluginsFolder = result.GetValue(plugins);
            if (result.GetValue(expect) is not { } expected)
            {
                return await RunAsync(flags, result.GetRequiredValue(events), result.GetValue(json), parserOptions, output, error, cancellationToken, pluginsFolder);
            }

            using var actual = new StringWriter { NewLine = "\n" };
            var counts = new TestCounts();
            var exit = await RunAsync(flags, result.GetRequiredValue(events), json: true, parserOptions, actual, error, cancellationToken, pluginsFolder, counts);
            if (exit == ExitCodes.CannotRun)
            {
                return exit;
            }

            var compared = await ExpectedOutput.CompareAsync(expected, actual.ToString(), result.GetValue(update), badInput: exit == ExitCodes.BadInput && actual.ToString().Length == 0, output, error);
            if (compared == ExitCodes.Ok && exit == ExitCodes.BadInput)
            {
                // An expected file records rule failures and refusals, so that a change in them shows; it does not make them pass.
                await error.WriteLineAsync(
                    $"{expected}: the run is not clean: {counts.RuleFailures} rule failures, {counts.Refused} intents refused by their plugins, {counts.Errors} bad lines. "
                    + "Fix the rules (or the recorded deliveries): recording them in the expected file does not make them pass.");
                return ExitCodes.BadInput;
            }

            return compared;
        });
        return command;
    }

    internal static async Task<int> RunAsync(
        Dictionary<string, string?>? flags, FileInfo eventsFile, bool json, DeliveryParserOptions parserOptions,
        TextWriter output, TextWriter error, CancellationToken cancellationToken, DirectoryInfo? pluginsFolder = null, TestCounts? counted = null)
    {
        PluginSet? plugins = null;
        if (pluginsFolder is not null && (plugins = await CommonOptions.LoadPluginsAsync(pluginsFolder, error)).Problems.Count > 0)
        {
            return ExitCodes.CannotRun; // a plugin that did not load would leave its action's intents unchecked, silently
        }

        if (await CommonOptions.LoadAsync(flags, error, plugins) is not var (settings, generation, pipeline))
        {
            return ExitCodes.CannotRun;
        }

        var arguments = plugins is null ? null : new IntentArgumentsCheck(plugins, settings.Secrets);

        if (await CommonOptions.OpenEventsAsync(eventsFile, error) is not { } reader)
        {
            return ExitCodes.CannotRun;
        }

        using (reader)
        {
            var report = json ? (TestReport)new JsonTestReport(output, pipeline.Settings.BotUserId) : new TextTestReport(output);
            report.ArgumentsChecked = arguments is not null;
            var evaluator = new OfflineEvaluator(generation, pipeline);
            report.CancelledNothing = evaluator.CancelledNothing;
            var parser = new DeliveryParser(parserOptions);
            var counts = counted ?? new TestCounts();
            DateTimeOffset? clock = null;
            await foreach (var line in DeliveryLineReader.ReadAsync(reader, parser, cancellationToken))
            {
                if (line.Clock is { } moveTo)
                {
                    if (clock is { } now && moveTo < now)
                    {
                        counts.Errors++;
                        await error.WriteLineAsync($"line {line.LineNumber}: the clock cannot move back (from {now:O} to {moveTo:O}).");
                        continue;
                    }

                    await FireDueAsync(evaluator, moveTo, report, arguments, counts, cancellationToken);
                    clock = moveTo;
                    continue;
                }

                counts.Deliveries++;
                clock = await RunLineAsync(line, evaluator, clock, report, arguments, error, counts, cancellationToken);
            }

            counts.TimersPending = (await evaluator.PendingTimersAsync(cancellationToken)).Count;
            await report.SummaryAsync(counts);
            if (counts.Deliveries == 0)
            {
                await error.WriteLineAsync($"{eventsFile}: holds no deliveries (expected JSON Lines: {{\"event\": \"convo.status\", \"body\": {{...}}}}).");
                return ExitCodes.BadInput;
            }

            return counts.Errors == 0 && counts.RuleFailures == 0 && counts.Refused == 0 ? ExitCodes.Ok : ExitCodes.BadInput;
        }
    }

    /// <summary>Fires the timers due by <paramref name="until"/>, in due order, each reported with what it produced.</summary>
    private static async Task FireDueAsync(
        OfflineEvaluator evaluator, DateTimeOffset until, TestReport report, IntentArgumentsCheck? arguments, TestCounts counts, CancellationToken cancellationToken)
    {
        var fired = new List<(TimerElapsed Timer, EvaluationResult Result)>();
        await evaluator.FireDueAsync(until, (timer, result) => fired.Add((timer, result)), cancellationToken);
        foreach (var (timer, result) in fired)
        {
            counts.TimersFired++;
            Count(result, counts);
            report.Refusals = await RefusalsAsync(arguments, result, counts, cancellationToken);
            await report.TimerFiredAsync(timer, result);
        }
    }

    /// <summary>What the plugins would refuse of the evaluation's intents (none when they were not loaded, or the intents do not count).</summary>
    private static async Task<IReadOnlyDictionary<ActionIntent, string>> RefusalsAsync(
        IntentArgumentsCheck? arguments, EvaluationResult result, TestCounts counts, CancellationToken cancellationToken)
    {
        var refusals = new Dictionary<ActionIntent, string>();
        if (arguments is null || result.BuiltInFailed)
        {
            return refusals;
        }

        foreach (var intent in result.Intents)
        {
            if (await arguments.RefusalAsync(intent, cancellationToken) is { } refusal)
            {
                refusals[intent] = refusal;
                counts.Refused++;
            }
        }

        return refusals;
    }

    private static void Count(EvaluationResult result, TestCounts counts)
    {
        counts.StatusChanges += result.BuiltInFailed ? 0 : result.StatusChanges.Count;
        counts.Intents += result.BuiltInFailed ? 0 : result.Intents.Count;
        counts.RuleFailures += result.Failures.Count;
    }

    /// <returns>The clock after the line: its arrival time, when later than <paramref name="clock"/>.</returns>
    private static async Task<DateTimeOffset?> RunLineAsync(
        DeliveryLine line, OfflineEvaluator evaluator, DateTimeOffset? clock, TestReport report, IntentArgumentsCheck? arguments, TextWriter error,
        TestCounts counts, CancellationToken cancellationToken)
    {
        if (!line.Result.IsValid)
        {
            counts.Errors++;
            await error.WriteLineAsync($"line {line.LineNumber}: {line.Result.Problem.Message}");
            return clock;
        }

        var parsed = line.Result.Delivery;
        if (parsed.Conversation is null)
        {
            counts.Skipped++;
            await report.SkippedAsync(line.LineNumber, parsed.Event, "not a conversation event; rules run on conversation events only");
            return clock;
        }

        // It arrived at its "at", or else when FreeScout says the conversation changed: the same on every run.
        var at = line.At ?? parsed.Conversation.UpdatedAt!.Value;
        await FireDueAsync(evaluator, at, report, arguments, counts, cancellationToken);
        var delivery = new Delivery($"line:{line.LineNumber}", parsed.Event, at, parsed.Conversation);
        var result = await evaluator.ProcessAsync(delivery, cancellationToken: cancellationToken);
        Count(result, counts);
        report.Refusals = await RefusalsAsync(arguments, result, counts, cancellationToken);
        await report.EvaluatedAsync(line.LineNumber, delivery, result);
        return clock is { } now && now > at ? now : at;
    }
}
