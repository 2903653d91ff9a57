using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace FreeScoutRules.Host.OperatorConsole.Pages.Actions;

/// <summary>Action intents, dead ones first by default, with every attempt; dead letters are retried one by one or as a selection.</summary>
internal sealed partial class ActionListModel(IOutbox outbox, TimeProvider time, ILogger<ActionListModel> logger) : PageModel
{
    public const int Limit = 200;

    [BindProperty(SupportsGet = true)]
    public string State { get; set; } = IntentState.Dead;

    /// <summary>Only intents of this action.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Action { get; set; }

    [BindProperty]
    public List<long> Selected { get; set; } = [];

    internal IReadOnlyList<IntentRecord> Items { get; private set; } = [];

    public string? Message { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    /// <summary>Dead intents in all (the list shows at most <see cref="Limit"/>).</summary>
    public long DeadCount { get; private set; }

    /// <summary>Retries the selected dead letters, then shows the list again (a redirect: reloading the page retries nothing).</summary>
    public async Task<IActionResult> OnPostRetryAsync(CancellationToken cancellationToken)
    {
        var retried = 0;
        var now = time.GetUtcNow();
        Selected = [.. Selected.Distinct()];
        foreach (var id in Selected)
        {
            if (await outbox.RetryDeadAsync(id, now, cancellationToken))
            {
                retried++;
                LogRetried(logger, id);
            }
        }

        TempData["Message"] = Selected.Count == 0
            ? "Select the dead letters to retry."
            : $"{retried} of {Selected.Count} put back in line{(retried < Selected.Count ? " (the others were not dead)" : "")}.";
        return RedirectToPage(new { state = State, action = Action });
    }

    /// <summary>Retries every dead letter (of the action filtered on, if any), however many there are.</summary>
    public async Task<IActionResult> OnPostRetryAllAsync(CancellationToken cancellationToken)
    {
        var retried = 0;
        var now = time.GetUtcNow();
        HashSet<long> tried = [];
        while (true)
        {
            var batch = (await outbox.ListAsync(null, IntentState.Dead, 500, cancellationToken))
                .Where(i => Matches(i) && tried.Add(i.Id)).ToList();
            if (batch.Count == 0)
            {
                break;
            }

            foreach (var intent in batch)
            {
                if (await outbox.RetryDeadAsync(intent.Id, now, cancellationToken))
                {
                    retried++;
                }
            }
        }

        LogRetriedAll(logger, retried, string.IsNullOrWhiteSpace(Action) ? "every action" : Action);
        TempData["Message"] = $"{retried} dead letters put back in line.";
        return RedirectToPage(new { state = IntentState.Dead, action = Action });
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        if (State is not (IntentState.Pending or IntentState.Done or IntentState.Dead))
        {
            State = IntentState.Dead;
        }

        Message = TempData["Message"] as string;
        var items = await outbox.ListAsync(null, State, Limit, cancellationToken);
        Items = [.. items.Where(Matches)];
        DeadCount = (await outbox.StatsAsync(cancellationToken)).Dead;
    }

    /// <summary>The action filter: a part of the action's name, any case.</summary>
    private bool Matches(IntentRecord intent) =>
        string.IsNullOrWhiteSpace(Action) || intent.Action.Contains(Action.Trim(), StringComparison.OrdinalIgnoreCase);

    [LoggerMessage(EventId = 9104, Level = LogLevel.Information, Message = "{Count} dead action intents ({Which}) were put back in line from the console")]
    private static partial void LogRetriedAll(ILogger logger, int count, string which);

    [LoggerMessage(EventId = 9103, Level = LogLevel.Information, Message = "Action intent {IntentId} was put back in line from the console")]
    private static partial void LogRetried(ILogger logger, long intentId);
}
