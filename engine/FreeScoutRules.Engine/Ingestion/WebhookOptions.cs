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

    /// <summary>
    /// Requests the webhook endpoint handles at once; one more is answered 503 with <c>Retry-After</c> at once (FreeScout
    /// retries it). Default 64: FreeScout's queue worker posts one at a time, a load test 16 at once.
    /// </summary>
    public int MaxConcurrentRequests { get; set; } = 64;

    /// <summary>
    /// Bytes of webhook request bodies in memory at once. Each request in <see cref="MaxConcurrentRequests"/> may hold
    /// its first <see cref="FirstChunkBytes"/> (ordinary deliveries are tens of KB); bodies larger than that share the
    /// rest, and a request that would exceed it is answered 503 with <c>Retry-After</c>. Default 32 MiB.
    /// </summary>
    public long MaxBufferedBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>
    /// A body whose bytes stop arriving for this long is cut (408, connection closed): measured from the last read, not
    /// averaged over the body as Kestrel's minimum data rate is. Default 10 s.
    /// </summary>
    public TimeSpan BodyIdleTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>What every request within <see cref="MaxConcurrentRequests"/> may buffer outside the shared budget.</summary>
    public const int FirstChunkBytes = 64 * 1024;

    /// <summary>The bytes larger bodies share: <see cref="MaxBufferedBytes"/> less the first chunks of every request at once.</summary>
    public long SharedBufferBytes => MaxBufferedBytes - ((long)MaxConcurrentRequests * FirstChunkBytes);

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
