using FreeScoutRules.Host.Security;
using System.Security.Claims;
using FreeScoutRules.Host.Server;
using FreeScoutRules.Host.Settings;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.OperatorConsole.Pages;

/// <summary>Sign in with the admin token; the cookie it sets is the console's only key.</summary>
internal sealed class SignInModel(IOptions<AdminOptions> admin, AuthenticationThrottle throttle) : PageModel
{
    [BindProperty]
    public string? Token { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string? Error { get; private set; }

    public bool Enabled => !string.IsNullOrEmpty(admin.Value.Token);

    public async Task<IActionResult> OnPostAsync()
    {
        if (!Enabled)
        {
            return Page();
        }

        if (throttle.Refusal(HttpContext) is { } wait)
        {
            // Refused before the token is compared: a guess from here now tells nothing.
            var seconds = AuthenticationThrottle.RetryAfterSeconds(wait);
            Response.Headers.RetryAfter = seconds;
            Error = $"Too many wrong tokens from your address: try again in {seconds} seconds.";
            var page = Page();
            page.StatusCode = StatusCodes.Status429TooManyRequests;
            return page;
        }

        if (!AdminToken.Matches(Token, admin.Value.Token))
        {
            if (!string.IsNullOrEmpty(Token))
            {
                throttle.Failed(HttpContext, AuthenticationThrottle.ConsoleSignIn); // logged once a minute with a count, not once per try
            }

            Error = "That is not the admin token.";
            return Page();
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.Name, "admin"),
                new Claim(ConsoleComposition.TokenClaim, ConsoleComposition.Fingerprint(admin.Value.Token!)),
                // This sign-in's own identifier: the anti-forgery tokens of its forms are bound to it (SessionBoundAntiforgery).
                new Claim(ConsoleComposition.SessionClaim, System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16))),
            ],
            CookieAuthenticationDefaults.AuthenticationScheme);
        // The cookie handler would redirect to the query's ReturnUrl by itself, unchecked: it is given the checked one.
        var returnUrl = SafeReturnUrl(ReturnUrl);
        await HttpContext.SignInAsync(
            CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity), new AuthenticationProperties { IsPersistent = true, RedirectUri = returnUrl });
        return LocalRedirect(returnUrl);
    }

    /// <summary>
    /// Where to go after signing in: a local URL of printable ASCII, else <c>/</c>. The sign-in link the console makes
    /// itself is already percent-encoded; anything else is a crafted link: a character Kestrel will not put in a
    /// <c>Location</c> header (<c>/é</c> failed the sign-in with a 500), or one a browser reads otherwise (<c>/\u3000/evil.example</c>).
    /// </summary>
    private string SafeReturnUrl(string? returnUrl) =>
        Url.IsLocalUrl(returnUrl) && returnUrl.All(c => c is > ' ' and <= '~') ? returnUrl : "/";
}
