using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.FreeScout;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace FreeScoutRules.Host.OperatorConsole.Pages.Conversations;

/// <summary>
/// "What happened to #1187?": every stored delivery of a conversation in time order (event, outcome, stale, rule
/// generation), the status changes each derived, the rules that fired and failed, the action intents with each
/// attempt, and the conversation's timers. Read through the same ports as the admin API.
/// </summary>
internal sealed class TimelineModel(IDeliveryHistory deliveries, IInbox inbox, IOutbox outbox, ITimers timers) : PageModel
{
    /// <summary>At most this many deliveries are shown (the newest).</summary>
    public const int Limit = 500;

    [BindProperty(SupportsGet = true)]
    public int Id { get; set; }

    /// <summary>The conversation as its newest stored snapshot describes it (<c>null</c> when its body was pruned).</summary>
    public Conversation? Snapshot { get; private set; }

    internal IReadOnlyList<DeliveryRecord> Deliveries { get; private set; } = [];

    internal IReadOnlyDictionary<long, IReadOnlyList<IntentRecord>> Intents { get; private set; } = new Dictionary<long, IReadOnlyList<IntentRecord>>();

    internal IReadOnlyList<StoredTimer> Timers { get; private set; } = [];

    public bool Truncated { get; private set; }

    public async Task<IActionResult> OnGetAsync(CancellationToken cancellationToken)
    {
        var newestFirst = await deliveries.ListAsync(new DeliveryFilter(ConversationId: Id, PageSize: Limit), cancellationToken);
        if (newestFirst.Count == 0)
        {
            return NotFound();
        }

        Truncated = newestFirst.Count == Limit;
        Deliveries = [.. newestFirst.Reverse()];
        var intents = new Dictionary<long, IReadOnlyList<IntentRecord>>();
        foreach (var delivery in Deliveries.Where(d => d.Result?.ActionIntents.Count > 0))
        {
            intents[delivery.Id] = [.. (await outbox.ListAsync(delivery.Id, null, 100, cancellationToken)).Reverse()];
        }

        Intents = intents;
        Timers = await timers.ListAsync(new TimerFilter(Id, Limit: 100, State: null), cancellationToken);
        foreach (var delivery in newestFirst.Where(d => d.Event != TimerFiring.Event).Take(5))
        {
            if (PipelineInput.SnapshotOf(await inbox.GetStoredAsync(delivery.Id, cancellationToken)) is { } conversation)
            {
                Snapshot = conversation;
                break;
            }
        }

        return Page();
    }
}
