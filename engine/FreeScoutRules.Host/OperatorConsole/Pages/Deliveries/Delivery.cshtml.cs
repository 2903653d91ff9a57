using System.Text.Json;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Explain;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace FreeScoutRules.Host.OperatorConsole.Pages.Deliveries;

/// <summary>
/// One delivery: its record, its raw payload (pretty), what every rule in force makes of it (the evaluation
/// <c>explain --delivery</c> runs, through <see cref="StoredDeliveryExplainer"/>), and a re-run where the engine allows one.
/// </summary>
internal sealed partial class DeliveryModel(
    IDeliveryHistory deliveries, IOutbox outbox, RuleSetHolder rules, RulesReloader reloader, EvaluationPipeline pipeline, Reruns reruns,
    TimeProvider time, Microsoft.Extensions.Options.IOptions<Engine.Dispatch.DispatchOptions> dispatch, ILogger<DeliveryModel> logger)
    : PageModel
{
    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [BindProperty(SupportsGet = true)]
    public long Id { get; set; }

    internal DeliveryRecord? Record { get; private set; }

    /// <summary>The payload, indented; <c>null</c> when retention pruned it.</summary>
    public string? Payload { get; private set; }

    internal StoredExplanation? Explanation { get; private set; }

    internal IReadOnlyList<IntentRecord> Intents { get; private set; } = [];

    /// <summary>What the re-run button did, after a POST.</summary>
    public string? Message { get; private set; }

    /// <summary>True when the engine would re-run it: parked, or done with a rule that failed.</summary>
    public bool CanRerun => Record is { Outcome: DeliveryOutcome.Parked } or { Outcome: DeliveryOutcome.Done, Result.RuleFailures.Count: > 0 };

    public async Task<IActionResult> OnGetAsync(CancellationToken cancellationToken) =>
        await LoadAsync(cancellationToken) ? Page() : NotFound();

    public async Task<IActionResult> OnPostRerunAsync(CancellationToken cancellationToken)
    {
        var (outcome, reason) = await reruns.RerunAsync(Id, cancellationToken);
        if (outcome == RerunOutcome.Requeued)
        {
            LogRerun(logger, Id);
        }

        TempData["Message"] = outcome == RerunOutcome.Requeued ? "Put back in line: it runs with the rules now in force." : reason;
        return RedirectToPage(new { id = Id });
    }

    /// <summary>Puts one of this delivery's dead action intents back in line.</summary>
    public async Task<IActionResult> OnPostRetryIntentAsync(long intent, CancellationToken cancellationToken)
    {
        var retried = await outbox.RetryDeadAsync(intent, time.GetUtcNow(), cancellationToken);
        if (retried)
        {
            LogIntentRetried(logger, intent);
        }

        TempData["Message"] = retried ? $"Action intent {intent} put back in line." : $"Action intent {intent} is not dead; nothing to retry.";
        return RedirectToPage(new { id = Id });
    }

    /// <summary>True when the latest change of the rules folder did not compile: a re-run now runs the rules before it.</summary>
    public bool RulesChangeRefused { get; private set; }

    private async Task<bool> LoadAsync(CancellationToken cancellationToken)
    {
        Message = TempData["Message"] as string;
        Record = await deliveries.GetAsync(Id, cancellationToken);
        if (Record is null)
        {
            return false;
        }

        Payload = await deliveries.GetBodyAsync(Id, cancellationToken) is { } body ? Indent(body) : null;
        if (Record.ConversationId is { } conversation && rules.IsLoaded && Payload is not null)
        {
            var history = await deliveries.LoadHistoryAsync(conversation, cancellationToken);
            Explanation = await StoredDeliveryExplainer.ExplainWithinAsync(dispatch.Value.RuleTimeout, rules.Current, pipeline, history, Id, cancellationToken);
        }

        RulesChangeRefused = reloader.LastFailure is { } failure && failure.At > reloader.LoadedAt;

        Intents = [.. (await outbox.ListAsync(Id, null, 100, cancellationToken)).Reverse()];
        return true;
    }

    private static string Indent(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return JsonSerializer.Serialize(document.RootElement, Pretty);
        }
        catch (JsonException)
        {
            return System.Text.Encoding.UTF8.GetString(body);
        }
    }

    [LoggerMessage(EventId = 9105, Level = LogLevel.Information, Message = "Action intent {IntentId} was put back in line from the console (its delivery's page)")]
    private static partial void LogIntentRetried(ILogger logger, long intentId);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Information, Message = "Delivery {DeliveryId} was put back in line from the console")]
    private static partial void LogRerun(ILogger logger, long deliveryId);
}
