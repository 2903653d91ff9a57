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

    public async Task<IActionResult> OnPostRetryAsync(CancellationToken cancellationToken)
    {
        var retried = 0;
        var now = time.GetUtcNow();
        foreach (var id in Selected.Distinct())
        {
            if (await outbox.RetryDeadAsync(id, now, cancellationToken))
            {
                retried++;
                LogRetried(logger, id);
            }
        }

        Message = Selected.Count == 0
            ? "Select the dead letters to retry."
            : $"{retried} of {Selected.Count} put back in line{(retried < Selected.Count ? " (the others were not dead any more)" : "")}.";
        await LoadAsync(cancellationToken);
        return Page();
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        if (State is not (IntentState.Pending or IntentState.Done or IntentState.Dead))
        {
            State = IntentState.Dead;
        }

        var items = await outbox.ListAsync(null, State, Limit, cancellationToken);
        Items = string.IsNullOrWhiteSpace(Action) ? items : [.. items.Where(i => string.Equals(i.Action, Action, StringComparison.Ordinal))];
    }

    [LoggerMessage(EventId = 9003, Level = LogLevel.Information, Message = "Action intent {IntentId} was put back in line from the console")]
    private static partial void LogRetried(ILogger logger, long intentId);
}
