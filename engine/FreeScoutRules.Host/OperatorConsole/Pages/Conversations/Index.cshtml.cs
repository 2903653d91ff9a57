using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace FreeScoutRules.Host.OperatorConsole.Pages.Conversations;

/// <summary>Finds a conversation by the number people see in FreeScout, or its id (the one in FreeScout's URL).</summary>
internal sealed class ConversationLookupModel(IDeliveryHistory deliveries) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public int? Q { get; set; }

    public bool Unknown { get; private set; }

    public async Task<IActionResult> OnGetAsync(CancellationToken cancellationToken)
    {
        if (Q is not { } q || q <= 0)
        {
            return Page();
        }

        if (await deliveries.FindConversationAsync(q, cancellationToken) is { } id)
        {
            return RedirectToPage("/Conversations/Timeline", new { id });
        }

        Unknown = true;
        return Page();
    }
}
