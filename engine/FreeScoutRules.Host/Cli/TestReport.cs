using System.Text;
using System.Text.Json;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Host.Cli;

/// <summary>Running totals of a <c>test</c> run.</summary>
internal sealed class TestCounts
{
    public int Deliveries { get; set; }

    public int StatusChanges { get; set; }

    public int Intents { get; set; }

    public int Skipped { get; set; }

    /// <summary>Lines that are not a valid delivery (reported on standard error).</summary>
    public int Errors { get; set; }

    /// <summary>Rules that threw, counted once per rule and delivery (reported with the delivery).</summary>
    public int RuleFailures { get; set; }

    public int TimersFired { get; set; }

    /// <summary>Intents whose plugin would refuse their arguments (<c>--plugins</c>).</summary>
    public int Refused { get; set; }

    /// <summary>Timers still pending when the file ended (a <c>{"clock": …}</c> line fires them).</summary>
    public int TimersPending { get; set; }
}

/// <summary>How <c>test</c> prints what each delivery produced.</summary>
internal abstract class TestReport(TextWriter output)
{
    /// <summary>The cancels of an evaluation that found no pending timer (the offline evaluator knows; set by <c>test</c>).</summary>
    public Func<EvaluationResult, IReadOnlySet<(int ConversationId, string Name)>> CancelledNothing { get; set; } = _ => new HashSet<(int, string)>();

    /// <summary>Whether intents' arguments were put to their plugins (<c>--plugins</c>): the summary says so.</summary>
    public bool ArgumentsChecked { get; set; }

    /// <summary>Why the plugins would refuse intents of the evaluation about to be reported (set by <c>test --plugins</c> before each).</summary>
    public IReadOnlyDictionary<ActionIntent, string> Refusals { get; set; } = new Dictionary<ActionIntent, string>();

    protected TextWriter Output { get; } = output;

    public abstract Task EvaluatedAsync(int lineNumber, Delivery delivery, EvaluationResult evaluation);

    /// <summary>A timer fired (at its due time) and produced <paramref name="evaluation"/>.</summary>
    public abstract Task TimerFiredAsync(TimerElapsed timer, EvaluationResult evaluation);

    public abstract Task SkippedAsync(int lineNumber, string eventName, string reason);

    public abstract Task SummaryAsync(TestCounts counts);
}

/// <summary>Text for people: a line per finding, then a summary.</summary>
internal sealed class TextTestReport(TextWriter output) : TestReport(output)
{
    public override Task EvaluatedAsync(int lineNumber, Delivery delivery, EvaluationResult evaluation) =>
        WriteAsync($"line {lineNumber}: {delivery.Event} #{delivery.Conversation.Number} (id {delivery.ConversationId})", evaluation);

    public override async Task TimerFiredAsync(TimerElapsed timer, EvaluationResult evaluation)
    {
        var prefix = $"timer {timer.Name} of conversation {timer.ConversationId} (due {timer.DueAt:u})";
        if (evaluation.RulesFired.Count == 0 && evaluation.Failures.Count == 0)
        {
            await Output.WriteLineAsync($"{prefix}: fired; no rule handled it");
            return;
        }

        await WriteAsync(prefix, evaluation);
    }

    private async Task WriteAsync(string prefix, EvaluationResult evaluation)
    {
        foreach (var failure in evaluation.Failures)
        {
            await Output.WriteLineAsync($"{prefix}: rule {failure.Rule} FAILED ({failure.Location}) in {failure.Where}: {failure.Message}");
        }

        if (evaluation.BuiltInFailed)
        {
            await Output.WriteLineAsync($"{prefix}: the built-in status rules failed, so nothing of this delivery counts (the server retries it, then parks it)");
            return;
        }

        if (evaluation.StatusChanges.Count == 0 && evaluation.Intents.Count == 0 && evaluation.Suppressed.Count == 0 && evaluation.Failures.Count == 0
            && evaluation.TimerChanges.Count == 0 && !evaluation.IsTimer)
        {
            var why = evaluation.Stale ? "stale (older than the known state), ignored" : "no status change";
            await Output.WriteLineAsync($"{prefix}: {why}");
        }

        foreach (var change in evaluation.StatusChanges)
        {
            await Output.WriteLineAsync($"{prefix}: status {change.From ?? "(unknown)"} -> {change.To} via {change.Via}");
        }

        foreach (var intent in evaluation.Intents)
        {
            await Output.WriteLineAsync($"{prefix}: action {intent.Action} {intent.Arguments} (rule {intent.Rule})");
            if (Refusals.TryGetValue(intent, out var refusal))
            {
                await Output.WriteLineAsync($"{prefix}: REFUSED: action {intent.Action} (rule {intent.Rule}): {refusal}");
            }
        }

        foreach (var held in evaluation.Suppressed)
        {
            await Output.WriteLineAsync($"{prefix}: not queued: action {held.Intent.Action} (rule {held.Intent.Rule}): {held.Reason}");
        }

        foreach (var timer in evaluation.TimerChanges)
        {
            await Output.WriteLineAsync(timer.DueAt is { } due
                ? $"{prefix}: timer {timer.Name} of conversation {timer.ConversationId} scheduled for {due:u} (rule {timer.Rule})"
                : CancelledNothing(evaluation).Contains((timer.ConversationId, timer.Name))
                    ? $"{prefix}: timer {timer.Name} of conversation {timer.ConversationId} not cancelled: none was pending (rule {timer.Rule})"
                    : $"{prefix}: timer {timer.Name} of conversation {timer.ConversationId} cancelled (rule {timer.Rule})");
        }
    }

    public override Task SkippedAsync(int lineNumber, string eventName, string reason) =>
        Output.WriteLineAsync($"line {lineNumber}: {eventName}: skipped: {reason}");

    public override Task SummaryAsync(TestCounts counts) =>
        Output.WriteLineAsync(
            $"{counts.Deliveries} deliveries: {counts.StatusChanges} status changes, {counts.Intents} action intents, {counts.Skipped} skipped, {counts.RuleFailures} rule failures, {counts.Errors} bad lines"
            + (counts.TimersFired + counts.TimersPending == 0 ? "" : $"; {counts.TimersFired} timers fired, {counts.TimersPending} still pending at the end")
            + (ArgumentsChecked ? $"; {counts.Refused} intents refused by their plugins" : ""));
}

/// <summary>
/// One JSON object a line, for scripts:
/// <c>{"kind":"statusChanged","line":6,"conversationId":1187,"from":"active","to":"closed","via":"convo.status","by":{"kind":"user","id":2}}</c>
/// and <c>{"kind":"action","line":6,"rule":"…","action":"…","conversationId":1187,"arguments":{…}}</c> (with <c>"refused":"…"</c>
/// when <c>--plugins</c> was given and its plugin would refuse the arguments); a rule that threw prints
/// <c>{"kind":"ruleFailed","line":6,"rule":"…","location":"file(line,col)","where":"…","message":"…"}</c>, an intent
/// not queued <c>{"kind":"actionSuppressed","line":6,"rule":"…","action":"…","conversationId":1187,"reason":"…"}</c>,
/// a timer scheduled or cancelled <c>{"kind":"timerScheduled","line":6,"rule":"…","name":"survey","conversationId":1187,"dueAt":"…"}</c>
/// (<c>timerCancelled</c> without <c>dueAt</c>). A timer that fires prints
/// <c>{"kind":"timer","name":"survey","conversationId":1187,"dueAt":"…"}</c>, then what it produced, with <c>"timer": name</c>
/// in place of <c>"line"</c>.
/// Errors go to standard error as text. Nothing prints for a delivery whose built-in status rules failed
/// but its <c>ruleFailed</c> lines: nothing of it counts.
/// </summary>
internal sealed class JsonTestReport(TextWriter output, int? botUserId = null) : TestReport(output)
{
    public override Task EvaluatedAsync(int lineNumber, Delivery delivery, EvaluationResult evaluation) =>
        WriteAsync(w => w.WriteNumber("line", lineNumber), delivery.ConversationId, evaluation);

    public override async Task TimerFiredAsync(TimerElapsed timer, EvaluationResult evaluation)
    {
        await Output.WriteLineAsync(Line(w =>
        {
            w.WriteString("kind", "timer");
            w.WriteString("name", timer.Name);
            w.WriteNumber("conversationId", timer.ConversationId);
            w.WriteString("dueAt", timer.DueAt.ToUniversalTime());
        }));
        await WriteAsync(w => w.WriteString("timer", timer.Name), timer.ConversationId, evaluation);
    }

    /// <summary>Writes the lines of what an evaluation produced; origin writes what caused it: <c>"line": N</c>, or <c>"timer": name</c>.</summary>
    private async Task WriteAsync(Action<Utf8JsonWriter> origin, int conversationId, EvaluationResult evaluation)
    {
        foreach (var failure in evaluation.Failures)
        {
            await Output.WriteLineAsync(Line(w =>
            {
                w.WriteString("kind", "ruleFailed");
                origin(w);
                w.WriteString("rule", failure.Rule);
                w.WriteString("location", failure.Location);
                w.WriteString("where", failure.Where);
                w.WriteString("message", failure.Message);
                w.WriteNumber("conversationId", conversationId);
            }));
        }

        if (evaluation.BuiltInFailed)
        {
            return;
        }

        foreach (var change in evaluation.StatusChanges)
        {
            await Output.WriteLineAsync(Line(w =>
            {
                w.WriteString("kind", "statusChanged");
                origin(w);
                w.WriteNumber("conversationId", change.ConversationId);
                w.WriteString("from", change.From);
                w.WriteString("to", change.To);
                w.WriteString("via", change.Via);
                if (Engine.Storage.ActorRecord.Of(change.By, botUserId) is { } by)
                {
                    w.WriteStartObject("by");
                    w.WriteString("kind", by.Kind);
                    w.WriteNumber("id", by.Id);
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteNull("by");
                }
            }));
        }

        foreach (var intent in evaluation.Intents)
        {
            await Output.WriteLineAsync(Line(w =>
            {
                w.WriteString("kind", "action");
                origin(w);
                w.WriteString("rule", intent.Rule);
                w.WriteString("action", intent.Action);
                w.WriteNumber("conversationId", intent.ConversationId);
                w.WritePropertyName("arguments");
                w.WriteRawValue(intent.Arguments); // secrets stay references: the arguments are never resolved here
                if (Refusals.TryGetValue(intent, out var refusal))
                {
                    w.WriteString("refused", refusal); // test --plugins: what its plugin would answer (never a secret's value)
                }
            }));
        }

        foreach (var held in evaluation.Suppressed)
        {
            await Output.WriteLineAsync(Line(w =>
            {
                w.WriteString("kind", "actionSuppressed");
                origin(w);
                w.WriteString("rule", held.Intent.Rule);
                w.WriteString("action", held.Intent.Action);
                w.WriteNumber("conversationId", held.Intent.ConversationId);
                w.WriteString("reason", held.Reason);
            }));
        }

        foreach (var timer in evaluation.TimerChanges)
        {
            await Output.WriteLineAsync(Line(w =>
            {
                w.WriteString("kind", timer.Cancels ? "timerCancelled" : "timerScheduled");
                origin(w);
                w.WriteString("rule", timer.Rule);
                w.WriteString("name", timer.Name);
                w.WriteNumber("conversationId", timer.ConversationId);
                if (timer.DueAt is { } due)
                {
                    w.WriteString("dueAt", due.ToUniversalTime());
                }
                else if (CancelledNothing(evaluation).Contains((timer.ConversationId, timer.Name)))
                {
                    w.WriteBoolean("wasPending", false); // a cancel that found nothing to cancel
                }
            }));
        }
    }

    public override Task SkippedAsync(int lineNumber, string eventName, string reason) => Task.CompletedTask;

    public override Task SummaryAsync(TestCounts counts) => Task.CompletedTask;

    private static string Line(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
