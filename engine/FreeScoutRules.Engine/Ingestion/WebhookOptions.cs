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

    /// <summary>True when deliveries are accepted unsigned: insecure mode and no secret.</summary>
    public bool SkipsSignatures => InsecureSkipSignature && string.IsNullOrEmpty(Secret);
}
