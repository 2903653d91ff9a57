using System.Security.Cryptography;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;

namespace FreeScoutRules.Engine.Ingestion;

/// <summary>
/// Takes one delivery from FreeScout: verifies the signature, parses and validates, and stores it (returning only
/// once it is committed); the store announces it to dispatch, with the conversation parsed here. Nothing refused is
/// stored. Thread-safe.
/// </summary>
internal sealed class WebhookIngestor(
    WebhookOptions options, IInbox inbox, TimeProvider time, EngineMetrics metrics)
{
    private readonly SignatureVerifier? _verifier = options.SkipsSignatures ? null : new SignatureVerifier(options.Secret!);
    private readonly DeliveryParser _parser = new(new DeliveryParserOptions { AcceptCustomEvents = options.AcceptCustomEvents });

    /// <param name="eventName">The X-FreeScout-Event header.</param>
    /// <param name="signature">The X-FreeScout-Signature header.</param>
    /// <param name="body">The raw bytes; not read once the returned task is running asynchronously, so a pooled buffer may be returned after it completes.</param>
    /// <param name="cancellationToken">Stops waiting for the commit (the write may still commit).</param>
    public async Task<IngestionResult> IngestAsync(string? eventName, string? signature, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        if (_verifier is not null && !_verifier.IsValid(body.Span, signature))
        {
            metrics.Refused("signature");
            return new IngestionResult(IngestionStatus.BadSignature, Problem: string.IsNullOrWhiteSpace(signature)
                ? "The X-FreeScout-Signature header is missing."
                : "The X-FreeScout-Signature header does not match the body: check that the configured secret is FreeScout's Secret Key.");
        }

        var parsed = _parser.Parse(eventName, body.Span);
        if (!parsed.IsValid)
        {
            var (status, reason) = parsed.Problem.Kind switch
            {
                DeliveryProblemKind.UnknownEvent => (IngestionStatus.UnknownEvent, "unknown_event"),
                DeliveryProblemKind.MalformedJson => (IngestionStatus.Malformed, "malformed"),
                _ => (IngestionStatus.Invalid, "invalid"),
            };
            metrics.Refused(reason);
            return new IngestionResult(status, Problem: parsed.Problem.Message);
        }

        var delivery = parsed.Delivery;
        var receivedAt = time.GetUtcNow();
        var conversation = delivery.Conversation;
        var stored = await inbox.StoreAsync(
            new NewDelivery(delivery.Event, body, SHA256.HashData(body.Span), conversation?.Id, receivedAt) { Parsed = conversation },
            cancellationToken);
        if (stored.Duplicate)
        {
            metrics.Duplicate();
            return new IngestionResult(IngestionStatus.Duplicate, stored.DeliveryId);
        }

        metrics.Accepted(delivery.Event);
        return new IngestionResult(IngestionStatus.Accepted, stored.DeliveryId);
    }
}
