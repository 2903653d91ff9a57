namespace FreeScoutRules.Engine.Ingestion;

/// <summary>How FreeScout's webhook deliveries are accepted.</summary>
internal sealed class WebhookOptions
{
    public const string Section = "Webhook";

    /// <summary>
    /// FreeScout's "Secret Key" (Manage » Settings » API &amp; Webhooks): 32 hex characters, used as
    /// the HMAC-SHA1 key as is. Also from <c>FREESCOUTRULES_WEBHOOK_SECRET</c>. Never logged.
    /// </summary>
    public string? Secret { get; set; }

    /// <summary>Largest body accepted; larger gets 413. Default 1 MiB (FreeScout's largest are tens of KB).</summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Accept event names FreeScout never sends, as custom Workflows events. Default false.</summary>
    public bool AcceptCustomEvents { get; set; }

    /// <summary>
    /// Development only: when no <see cref="Secret"/> is set, accept deliveries without checking their
    /// signature. Warned about loudly at start. With a secret, signatures are always checked.
    /// </summary>
    public bool InsecureSkipSignature { get; set; }

    /// <summary>
    /// The addresses FreeScout posts from, as CIDR ranges (<c>203.0.113.7/32</c>, <c>2001:db8::/48</c>) or single addresses;
    /// an entry may list several, separated by commas. Empty (the default): any source. A delivery from elsewhere gets 403
    /// before its body is read. Behind a reverse proxy the source is the client the proxy names (forwarded headers from a
    /// known proxy), otherwise the connection's address; a connection without one (a Unix socket) is refused when set.
    /// </summary>
    public List<string> AllowedSources { get; set; } = [];

    /// <summary>The networks of <see cref="AllowedSources"/>; <c>null</c> when any source is allowed.</summary>
    /// <exception cref="FormatException">An entry is not an address or CIDR range (the options validator says which).</exception>
    public IReadOnlyList<System.Net.IPNetwork>? AllowedNetworks() =>
        AllowedSources.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList() is { Count: > 0 } entries
            ? [.. entries.Select(ParseNetwork)]
            : null;

    /// <summary>A CIDR range, or a single address as a range of one.</summary>
    public static System.Net.IPNetwork ParseNetwork(string entry) =>
        entry.Contains('/', StringComparison.Ordinal)
            ? System.Net.IPNetwork.Parse(entry)
            : System.Net.IPAddress.Parse(entry) is var address
                ? new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
                : throw new FormatException(entry);

    /// <summary>True when deliveries are accepted unsigned: insecure mode and no secret.</summary>
    public bool SkipsSignatures => InsecureSkipSignature && string.IsNullOrEmpty(Secret);
}
