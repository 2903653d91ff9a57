using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace FreeScoutRules.Host.OperatorConsole.Pages.Deliveries;

/// <summary>Deliveries, newest first, filtered by event, outcome, conversation and time, a page at a time (keyset: older than the last shown).</summary>
internal sealed class DeliveryListModel(IDeliveryHistory deliveries) : PageModel
{
    public const int PageSize = 50;

    public static readonly IReadOnlyList<string> Events =
        [.. FreeScout.WebhookEvents.All.Order(StringComparer.Ordinal), Facts.EngineEvents.Reconciliation, Facts.EngineEvents.TimerElapsed];

    [BindProperty(SupportsGet = true)]
    public string? Event { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Outcome { get; set; }

    /// <summary>A conversation's id (the conversation page finds one by its number).</summary>
    [BindProperty(SupportsGet = true)]
    public int? Conversation { get; set; }

    [BindProperty(SupportsGet = true)]
    public DateTime? Since { get; set; }

    [BindProperty(SupportsGet = true)]
    public DateTime? Until { get; set; }

    [BindProperty(SupportsGet = true)]
    public long? Before { get; set; }

    internal IReadOnlyList<DeliveryRecord> Items { get; private set; } = [];

    public string? Problem { get; private set; }

    /// <summary>The query of the next (older) page, or <c>null</c> when this one is the last.</summary>
    public string? OlderQuery { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        if (Outcome is { Length: > 0 } outcome && !DeliveryOutcome.All.Contains(outcome))
        {
            Problem = $"outcome must be one of {string.Join(", ", DeliveryOutcome.All)}.";
            return;
        }

        if (!ModelState.IsValid)
        {
            Problem = "A filter does not read: " + string.Join("; ", ModelState.Where(e => e.Value!.Errors.Count > 0).Select(e => $"{e.Key} '{e.Value!.AttemptedValue}'")) + ".";
            return;
        }

        var conversationId = Conversation;

        Items = await deliveries.ListAsync(
            new DeliveryFilter(conversationId, NullIfEmpty(Outcome), Utc(Since), EndOfSecond(Until), PageSize: PageSize, Event: NullIfEmpty(Event), BeforeId: Before),
            cancellationToken);
        NewestQuery = Query(null);
        if (Items.Count == PageSize)
        {
            OlderQuery = Query(Items[^1].Id);
        }
    }

    /// <summary>The query of the newest page with these filters.</summary>
    public string NewestQuery { get; private set; } = "";

    private string Query(long? before) =>
            QueryString.Create(new Dictionary<string, string?>
            {
                ["event"] = NullIfEmpty(Event),
                ["outcome"] = NullIfEmpty(Outcome),
                ["conversation"] = Conversation?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["since"] = Since?.ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
                ["until"] = Until?.ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
                ["before"] = before?.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }.Where(p => p.Value is not null)).ToUriComponent();

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>
    /// The end of the second <paramref name="until"/> names (the filter includes it); none for the last second there is
    /// (<c>9999-12-31T23:59:59</c> includes everything, and a second more does not exist).
    /// </summary>
    private static DateTimeOffset? EndOfSecond(DateTime? until) =>
        until is { } u && u < DateTime.MaxValue.AddSeconds(-1) ? Utc(u)!.Value.AddSeconds(1) : null;

    /// <summary>The form's times are UTC, as every time the console shows.</summary>
    private static DateTimeOffset? Utc(DateTime? value) => value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;
}
