using System.Buffers;
using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// <c>POST /webhooks/freescout</c>: the ingestion endpoint FreeScout posts to. Answers 202 only once
/// the delivery is committed; 200 for a byte-identical redelivery; 401, 413, 415, 400 and 422 as
/// <c>application/problem+json</c>, and then nothing is stored.
/// </summary>
internal static class WebhookEndpoint
{
    public const string Path = "/webhooks/freescout";

    public static IEndpointRouteBuilder MapWebhookEndpoint(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost(Path, ReceiveAsync).DisableAntiforgery().AddEndpointFilter<WebhookSources.Filter>();
        return endpoints;
    }

    private static async Task<IResult> ReceiveAsync(
        HttpContext http, WebhookIngestor ingestor, IOptions<WebhookOptions> options, EngineMetrics metrics, CancellationToken cancellationToken)
    {
        var max = options.Value.MaxBodyBytes;
        if (http.Request.ContentLength > max)
        {
            metrics.Refused("too_large");
            return TooLarge(max);
        }

        if (!IsJson(http.Request.ContentType))
        {
            metrics.Refused("content_type");
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"Expected application/json or application/hal+json, got '{http.Request.ContentType}'.");
        }

        // The body in a pooled buffer: returned once the ingestor is done with it (it keeps no reference).
        using var body = new PooledBody();
        try
        {
            if (!await body.ReadBoundedAsync(http.Request.Body, http.Request.ContentLength, max, cancellationToken))
            {
                metrics.Refused("too_large");
                return TooLarge(max);
            }
        }
        catch (BadHttpRequestException ex)
        {
            // The sender went away or sent less than it announced: nothing to store.
            metrics.Refused("incomplete");
            return Problem(ex.StatusCode, "Incomplete body", ex.Message);
        }
        catch (EndOfStreamException)
        {
            metrics.Refused("incomplete");
            return Problem(StatusCodes.Status400BadRequest, "Incomplete body", "The body ended before its Content-Length.");
        }

        IngestionResult result;
        try
        {
            result = await ingestor.IngestAsync(
                http.Request.Headers["X-FreeScout-Event"].ToString(), http.Request.Headers["X-FreeScout-Signature"].ToString(), body.Bytes, cancellationToken);
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            return Problem(StatusCodes.Status503ServiceUnavailable, "Shutting down", "The server is stopping; FreeScout will retry.");
        }

        return result.Status switch
        {
            IngestionStatus.Accepted => Results.Json(new WebhookAnswer(result.DeliveryId!.Value, "accepted"), statusCode: StatusCodes.Status202Accepted),
            IngestionStatus.Duplicate => Results.Json(new WebhookAnswer(result.DeliveryId!.Value, "duplicate"), statusCode: StatusCodes.Status200OK),
            IngestionStatus.BadSignature => Problem(StatusCodes.Status401Unauthorized, "Bad signature", result.Problem!),
            IngestionStatus.Malformed => Problem(StatusCodes.Status400BadRequest, "Malformed delivery", result.Problem!),
            IngestionStatus.UnknownEvent => Problem(StatusCodes.Status422UnprocessableEntity, "Unknown event", result.Problem!),
            _ => Problem(StatusCodes.Status422UnprocessableEntity, "Invalid delivery", result.Problem!),
        };
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.MediaType.Equals("application/hal+json", StringComparison.OrdinalIgnoreCase));

    private static IResult TooLarge(long max) =>
        Problem(StatusCodes.Status413PayloadTooLarge, "Body too large", $"The body exceeds the limit of {max} bytes (Webhook:MaxBodyBytes).");

    internal static IResult Problem(int status, string title, string detail) =>
        Results.Problem(title: title, detail: detail, statusCode: status);

    /// <summary>The body of a 202 or 200 answer.</summary>
    internal sealed record WebhookAnswer(long DeliveryId, string Status);

    /// <summary>A request body read into a buffer rented from the shared pool, returned on dispose.</summary>
    private sealed class PooledBody : IDisposable
    {
        private byte[] _buffer = [];
        private int _length;

        public ReadOnlyMemory<byte> Bytes => _buffer.AsMemory(0, _length);

        /// <summary>Reads the body; false as soon as it exceeds <paramref name="max"/> bytes (chunked bodies have no Content-Length).</summary>
        public async Task<bool> ReadBoundedAsync(Stream body, long? length, long max, CancellationToken cancellationToken)
        {
            if (length is { } announced and <= int.MaxValue)
            {
                // The usual case: FreeScout sends Content-Length (already checked against the limit), and
                // Kestrel ends the body there or fails the read, so a buffer of that size is enough.
                Grow((int)announced);
                await body.ReadExactlyAsync(_buffer.AsMemory(0, (int)announced), cancellationToken);
                _length = (int)announced;
                return true;
            }

            Grow(16 * 1024);
            while (true)
            {
                if (_length == _buffer.Length)
                {
                    Grow(_buffer.Length * 2);
                }

                var read = await body.ReadAsync(_buffer.AsMemory(_length), cancellationToken);
                if (read == 0)
                {
                    return true;
                }

                _length += read;
                if (_length > max)
                {
                    return false;
                }
            }
        }

        public void Dispose()
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = [];
            }
        }

        private void Grow(int size)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(size);
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            Dispose();
            _buffer = bigger;
        }
    }
}
