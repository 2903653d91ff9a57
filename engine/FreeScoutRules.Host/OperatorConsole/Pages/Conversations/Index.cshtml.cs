using System.Globalization;
using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace FreeScoutRules.Host.OperatorConsole.Pages.Conversations;

/// <summary>
/// Finds a conversation by the number people see in FreeScout (<c>#1187</c>, or just 1187) or its id (the one in FreeScout's
/// URL). Ids and numbers overlap in a real FreeScout: when both find a conversation and they differ, both are offered.
/// </summary>
internal sealed class ConversationLookupModel(IDeliveryHistory deliveries) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? Q { get; set; }

    public string? Problem { get; private set; }

    internal IReadOnlyList<ConversationMatch> Matches { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(Q))
        {
            return Page();
        }

        var text = Q.Trim();
        var numberOnly = text.StartsWith('#');
        if (!int.TryParse(numberOnly ? text[1..] : text, NumberStyles.None, CultureInfo.InvariantCulture, out var wanted) || wanted <= 0)
        {
            Problem = $"'{text}' is not a conversation number (#1187) or id.";
            return Page();
        }

        Matches = [.. (await deliveries.FindConversationsAsync(wanted, cancellationToken)).Where(m => m.ByNumber || !numberOnly)];
        if (Matches.Count == 1)
        {
            return RedirectToPage("/Conversations/Timeline", new { id = Matches[0].ConversationId });
        }

        if (Matches.Count == 0)
        {
            Problem = numberOnly
                ? $"No status change of a conversation #{wanted} is stored (a conversation is known by its number once its status changed; its id always works)."
                : $"No delivery of conversation id {wanted} is stored, and no status change of a conversation #{wanted}.";
        }

        return Page();
    }
}
