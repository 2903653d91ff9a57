using System.Text;
using System.Text.Json;
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
}

/// <summary>How <c>test</c> prints what each delivery produced.</summary>
internal abstract class TestReport(TextWriter output)
{
    protected TextWriter Output { get; } = output;

    public abstract Task EvaluatedAsync(int lineNumber, Delivery delivery, EvaluationResult evaluation);

    public abstract Task SkippedAsync(int lineNumber, string eventName, string reason);

    public abstract Task SummaryAsync(TestCounts counts);
}

/// <summary>Text for people: a line per finding, then a summary.</summary>
internal sealed class TextTestReport(TextWriter output) : TestReport(output)
{
    public override async Task EvaluatedAsync(int lineNumber, Delivery delivery, EvaluationResult evaluation)
    {
        var prefix = $"line {lineNumber}: {delivery.Event} #{delivery.Conversation.Number} (id {delivery.ConversationId})";
        foreach (var failure in evaluation.Failures)
        {
            await Output.WriteLineAsync($"{prefix}: rule {failure.Rule} FAILED ({failure.Location}) in {failure.Where}: {failure.Message}");
        }

        if (evaluation.BuiltInFailed)
        {
            await Output.WriteLineAsync($"{prefix}: the built-in status rules failed, so nothing of this delivery counts (the server retries it, then parks it)");
            return;
        }

        if (evaluation.StatusChanges.Count == 0 && evaluation.Intents.Count == 0 && evaluation.Suppressed.Count == 0 && evaluation.Failures.Count == 0)
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
        }

        foreach (var held in evaluation.Suppressed)
        {
            await Output.WriteLineAsync($"{prefix}: not queued: action {held.Intent.Action} (rule {held.Intent.Rule}): {held.Reason}");
        }
    }

    public override Task SkippedAsync(int lineNumber, string eventName, string reason) =>
        Output.WriteLineAsync($"line {lineNumber}: {eventName}: skipped: {reason}");

    public override Task SummaryAsync(TestCounts counts) =>
        Output.WriteLineAsync(
            $"{counts.Deliveries} deliveries: {counts.StatusChanges} status changes, {counts.Intents} action intents, {counts.Skipped} skipped, {counts.RuleFailures} rule failures, {counts.Errors} bad lines");
}

/// <summary>
/// One JSON object a line, for scripts:
/// <c>{"kind":"statusChanged","line":6,"conversationId":1187,"from":"active","to":"closed","via":"convo.status","by":{"kind":"user","id":2}}</c>
/// and <c>{"kind":"action","line":6,"rule":"…","action":"…","conversationId":1187,"arguments":{…}}</c>; a rule that threw prints
/// <c>{"kind":"ruleFailed","line":6,"rule":"…","location":"file(line,col)","where":"…","message":"…"}</c>, an intent
/// not queued <c>{"kind":"actionSuppressed","line":6,"rule":"…","action":"…","conversationId":1187,"reason":"…"}</c>.
/// Errors go to standard error as text. Nothing prints for a delivery whose built-in status rules failed
/// but its <c>ruleFailed</c> lines: nothing of it counts.
/// </summary>
internal sealed class JsonTestReport(TextWriter output, int? botUserId = null) : TestReport(output)
{
    public override async Task EvaluatedAsync(int lineNumber, Delivery delivery, EvaluationResult evaluation)
    {
        foreach (var failure in evaluation.Failures)
        {
            await Output.WriteLineAsync(Line(w =>
            {
                w.WriteString("kind", "ruleFailed");
                w.WriteNumber("line", lineNumber);
                w.WriteString("rule", failure.Rule);
                w.WriteString("location", failure.Location);
                w.WriteString("where", failure.Where);
                w.WriteString("message", failure.Message);
                w.WriteNumber("conversationId", delivery.ConversationId);
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
                w.WriteNumber("line", lineNumber);
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
                w.WriteNumber("line", lineNumber);
                w.WriteString("rule", intent.Rule);
                w.WriteString("action", intent.Action);
                w.WriteNumber("conversationId", intent.ConversationId);
                w.WritePropertyName("arguments");
                w.WriteRawValue(intent.Arguments); // secrets stay references: the arguments are never resolved here
            }));
        }

        foreach (var held in evaluation.Suppressed)
        {
            await Output.WriteLineAsync(Line(w =>
            {
                w.WriteString("kind", "actionSuppressed");
                w.WriteNumber("line", lineNumber);
                w.WriteString("rule", held.Intent.Rule);
                w.WriteString("action", held.Intent.Action);
                w.WriteNumber("conversationId", held.Intent.ConversationId);
                w.WriteString("reason", held.Reason);
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
