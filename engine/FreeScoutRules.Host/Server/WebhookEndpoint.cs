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
        var endpoint = endpoints.MapPost(Path, ReceiveAsync).DisableAntiforgery().RequireRateLimiting(WebhookLimits.Policy);
        if (!endpoints.ServiceProvider.GetRequiredService<WebhookSources>().AllowsAny)
        {
            // Only with Webhook:AllowedSources set: without a list every delivery skips the filter pipeline.
            endpoint.AddEndpointFilter<WebhookSources.Filter>();
        }

        return endpoints;
    }

    private static async Task<IResult> ReceiveAsync(
        HttpContext http, WebhookIngestor ingestor, IOptions<WebhookOptions> options, WebhookRefusals refusals, WebhookLimits limits,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var max = options.Value.MaxBodyBytes;
        if (http.Request.ContentLength > max)
        {
            return TooLarge(http, refusals, max);
        }

        if (!IsJson(http.Request.ContentType))
        {
            return Refuse(http, refusals, "content_type", StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"Expected application/json or application/hal+json, got '{http.Request.ContentType}'.");
        }

        // The body in pooled buffers, grown as its bytes arrive: returned once the ingestor is done with it (it keeps no reference).
        using var body = new PooledBody(limits);
        try
        {
            switch (await body.ReadBoundedAsync(http.Request.Body, http.Request.ContentLength, max, limits.IdleTimeout, time, cancellationToken))
            {
                case BodyRead.TooLarge:
                    return TooLarge(http, refusals, max);
                case BodyRead.OverBudget:
                    await limits.RefuseAsync(http, StatusCodes.Status503ServiceUnavailable, "buffer_full", "Too many bytes at once",
                        $"The bodies being received fill the memory set aside for them (Webhook:MaxBufferedBytes); retry after {limits.RetryAfter} s.");
                    return Results.Empty;
                case BodyRead.Stalled:
                    await limits.RefuseAsync(http, StatusCodes.Status408RequestTimeout, "stalled", "Body stalled",
                        string.Create(System.Globalization.CultureInfo.InvariantCulture,
                            $"No byte of the body arrived for {limits.IdleTimeout.TotalSeconds:0.###} s (Webhook:BodyIdleTimeout); the connection is closed."));
                    return Results.Empty;
            }
        }
        catch (BadHttpRequestException ex)
        {
            // The sender went away or sent less than it announced: nothing to store.
            return Refuse(http, refusals, "incomplete", ex.StatusCode, "Incomplete body", ex.Message);
        }
        catch (EndOfStreamException)
        {
            return Refuse(http, refusals, "incomplete", StatusCodes.Status400BadRequest, "Incomplete body", "The body ended before its Content-Length.");
        }

        IngestionResult result;
        try
        {
            result = await ingestor.IngestAsync(
                http.Request.Headers["X-FreeScout-Event"].ToString(), http.Request.Headers["X-FreeScout-Signature"].ToString(), body.Bytes, cancellationToken);
        }
        catch (Engine.Storage.StorageException ex) when (ex.Stopping)
        {
            http.Response.Headers.RetryAfter = limits.RetryAfter;
            return Problem(StatusCodes.Status503ServiceUnavailable, "Shutting down", "The server is stopping; FreeScout will retry.");
        }
        catch (Engine.Storage.StorageException)
        {
            // Nothing was stored (the database down, restarting or cut off): FreeScout retries (about 10 times over 75
            // minutes). The store logged the cause, /readyz names it; the answer names no file, path or host.
            http.Response.Headers.RetryAfter = limits.RetryAfter;
            return Problem(StatusCodes.Status503ServiceUnavailable, "Storage unavailable", "The delivery could not be stored and nothing of it was kept; FreeScout will retry.");
        }

        // The ingestor counted its refusals; they are logged here, with the sender's address.
        if (result.Status is not (IngestionStatus.Accepted or IngestionStatus.Duplicate))
        {
            refusals.Log(http, result.Status switch
            {
                IngestionStatus.BadSignature => "signature",
                IngestionStatus.Malformed => "malformed",
                IngestionStatus.UnknownEvent => "unknown_event",
                _ => "invalid",
            }, result.Problem!);
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

    private static IResult TooLarge(HttpContext http, WebhookRefusals refusals, long max) =>
        Refuse(http, refusals, "too_large", StatusCodes.Status413PayloadTooLarge, "Body too large", $"The body exceeds the limit of {max} bytes (Webhook:MaxBodyBytes).");

    /// <summary>A refusal as problem details, counted and logged.</summary>
    private static IResult Refuse(HttpContext http, WebhookRefusals refusals, string reason, int status, string title, string detail)
    {
        refusals.Refused(http, reason, detail);
        return Problem(status, title, detail);
    }

    internal static IResult Problem(int status, string title, string detail) =>
        Results.Problem(title: title, detail: detail, statusCode: status);

    /// <summary>The body of a 202 or 200 answer.</summary>
    internal sealed record WebhookAnswer(long DeliveryId, string Status);

    /// <summary>How reading a body ended.</summary>
    private enum BodyRead
    {
        Complete,
        TooLarge,
        OverBudget,
        Stalled,
    }

    /// <summary>
    /// A request body read into a buffer rented from the shared pool, returned on dispose. The buffer grows as bytes
    /// arrive (never to the announced Content-Length up front: a sender that announces a megabyte and stalls would pin
    /// it); growth beyond <see cref="WebhookOptions.FirstChunkBytes"/> is reserved from <see cref="WebhookLimits"/>'s
    /// shared budget, and every read waits at most the idle timeout.
    /// </summary>
    private sealed class PooledBody(WebhookLimits limits) : IDisposable
    {
        private byte[] _buffer = [];
        private int _length;
        private System.Threading.RateLimiting.RateLimitLease? _reservation;

        public ReadOnlyMemory<byte> Bytes => _buffer.AsMemory(0, _length);

        /// <summary>
        /// Reads the body; <see cref="BodyRead.TooLarge"/> as soon as it exceeds <paramref name="max"/> bytes (chunked bodies
        /// have no Content-Length), <see cref="BodyRead.OverBudget"/> when the shared budget cannot hold the next chunk,
        /// <see cref="BodyRead.Stalled"/> when no byte arrived for <paramref name="idle"/>.
        /// </summary>
        public async Task<BodyRead> ReadBoundedAsync(Stream body, long? length, long max, TimeSpan idle, TimeProvider time, CancellationToken cancellationToken)
        {
            // Kestrel's MinRequestBodyDataRate averages over the whole body, so a sender that sends all but one byte
            // quickly and then stalls passes it; this timer restarts at every read instead.
            using var idleTimer = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idleTimer.Token);
            // Content-Length is already checked against the limit; Kestrel ends the body there or fails the read.
            var capacity = (int)Math.Min(length ?? max, max);
            if (!Grow(Math.Min(capacity, length is null ? 16 * 1024 : WebhookOptions.FirstChunkBytes)))
            {
                return BodyRead.OverBudget;
            }

            while (true)
            {
                var room = Math.Min(_buffer.Length, capacity) - _length;
                if (room == 0)
                {
                    if (_length == capacity)
                    {
                        // Full: with a Content-Length that is the whole body; without one, one more byte says it is too large.
                        return length is not null
                            ? BodyRead.Complete
                            : await ReadIdleAsync(body, new byte[1], idleTimer, idle, linked.Token, cancellationToken) switch
                            {
                                0 => BodyRead.Complete,
                                < 0 => BodyRead.Stalled,
                                _ => BodyRead.TooLarge,
                            };
                    }

                    if (!Grow((int)Math.Min(capacity, (long)_buffer.Length * 2)))
                    {
                        return BodyRead.OverBudget;
                    }

                    continue;
                }

                var read = await ReadIdleAsync(body, _buffer.AsMemory(_length, room), idleTimer, idle, linked.Token, cancellationToken);
                if (read < 0)
                {
                    return BodyRead.Stalled;
                }

                if (read == 0)
                {
                    if (_length < length)
                    {
                        throw new EndOfStreamException();
                    }

                    return BodyRead.Complete;
                }

                _length += read;
            }
        }

        /// <summary>One read that waits at most <paramref name="idle"/>: the bytes read, 0 at the end, -1 when none came in time.</summary>
        private static async Task<int> ReadIdleAsync(
            Stream body, Memory<byte> into, CancellationTokenSource idleTimer, TimeSpan idle, CancellationToken linked, CancellationToken request)
        {
            idleTimer.CancelAfter(idle);
            try
            {
                return await body.ReadAsync(into, linked);
            }
            catch (OperationCanceledException) when (idleTimer.IsCancellationRequested && !request.IsCancellationRequested)
            {
                return -1;
            }
        }

        public void Dispose()
        {
            Release();
            _reservation?.Dispose();
            _reservation = null;
        }

        /// <summary>A buffer of at least <paramref name="size"/> with the bytes read so far; false when the budget cannot hold it.</summary>
        private bool Grow(int size)
        {
            // What the body may grow to is reserved beyond the first chunk (the pool may hand out a little more: its slack is
            // not a body's). The earlier reservation goes first: a body of Webhook:MaxBodyBytes alone always fits the budget.
            _reservation?.Dispose();
            _reservation = null;
            System.Threading.RateLimiting.RateLimitLease? reservation = null;
            if (size > WebhookOptions.FirstChunkBytes)
            {
                reservation = limits.Reserve(size - WebhookOptions.FirstChunkBytes);
                if (!reservation.IsAcquired)
                {
                    reservation.Dispose();
                    return false;
                }
            }

            var bigger = ArrayPool<byte>.Shared.Rent(size);
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            Release();
            _reservation = reservation;
            _buffer = bigger;
            return true;
        }

        private void Release()
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = [];
            }
        }
    }
}
