using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.FreeScoutApi;

/// <summary>
/// The one FreeScout connection (<c>FreeScout:*</c>; the variables <c>FREESCOUTRULES_FREESCOUT_URL</c>,
/// <c>FREESCOUTRULES_FREESCOUT_API_KEY</c> and <c>FREESCOUTRULES_FREESCOUT_BOT_USER_ID</c> set the same keys): what
/// the reconciler reads and the <c>freescout</c> action writes through. The API key is a secret: it goes into the
/// named client's request header and nowhere else (never logged, never stored).
/// </summary>
internal sealed class FreeScoutOptions
{
    public const string Section = "FreeScout";

    /// <summary>FreeScout's address, e.g. https://support.example.com (the API is under <c>/api/</c>).</summary>
    public string? Url { get; set; }

    /// <summary>The API &amp; Webhooks module's API key (Manage » API &amp; Webhooks); not the webhook secret.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The FreeScout user the <c>freescout</c> action writes as.</summary>
    public int? BotUserId { get; set; }

    /// <summary>True when both the address and the key are set: the reconciler is on by default then.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Url) && !string.IsNullOrWhiteSpace(ApiKey);

    /// <summary>The connection for actions and the reconciler, or <c>null</c> when the address or the key is missing or the address is not http(s).</summary>
    public FreeScoutConnection? Connection() =>
        IsConfigured && TryParseUrl(Url, out var address) ? new FreeScoutConnection(address, BotUserId) : null;

    /// <summary>An absolute http(s) address, with a trailing slash so that relative API paths resolve under it.</summary>
    public static bool TryParseUrl(string? value, out Uri address)
    {
        address = null!;
        if (string.IsNullOrWhiteSpace(value)
            || !Uri.TryCreate(value.Trim().TrimEnd('/') + "/", UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https")
            || !string.IsNullOrEmpty(uri.Query))
        {
            return false;
        }

        address = uri;
        return true;
    }
}
