using System.Buffers;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>The stand-in's HTTP surface: one middleware (record, down, latency, failures, key) and the routes.</summary>
internal static class StandInApi
{
    private const string ApiKeyHeader = "X-FreeScout-API-Key";
    private const string ControlPrefix = "/_standin";

    private static readonly byte[] ListStart = Encoding.ASCII.GetBytes("""{"_embedded":{"conversations":[""");

    // What a PHP application answers for a path it has no route for: HTML, not JSON.
    private static readonly byte[] NotFoundHtml = Encoding.ASCII.GetBytes("""
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>Not Found</title></head>
        <body><div class="title">404 Not Found</div></body>
        </html>

        """);

    public static void Map(WebApplication app, FreeScoutStandIn standIn)
    {
        app.Use((http, next) => GuardAsync(http, next, standIn));
        app.MapGet("/api/conversations", http => ListAsync(http, standIn));
        app.MapGet("/api/conversations/{id:int}", http => GetAsync(http, standIn));
        app.MapPost(ControlPrefix + "/touch", http => TouchAsync(http, standIn));
        app.MapGet(ControlPrefix + "/stats", http => StatsAsync(http, standIn));
        app.MapFallback("/api/{**rest}", http => HttpMethods.IsGet(http.Request.Method)
            ? MessageAsync(http, HttpStatusCode.NotFound, "Not found")
            : MessageAsync(http, HttpStatusCode.MethodNotAllowed, "The FreeScout stand-in serves reads only"));
        app.MapFallback(async http =>
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            http.Response.ContentType = "text/html; charset=UTF-8";
            await http.Response.Body.WriteAsync(NotFoundHtml, http.RequestAborted);
        });
    }

    private static async Task GuardAsync(HttpContext http, RequestDelegate next, FreeScoutStandIn standIn)
    {
        var request = http.Request;
        var control = request.Path.StartsWithSegments(ControlPrefix, StringComparison.Ordinal);
        var received = TimeProvider.System.GetUtcNow();
        var status = 0;
        try
        {
            if (standIn.Down)
            {
                http.Abort();
                return;
            }

            if (standIn.Latency is { Ticks: > 0 } latency)
            {
                await Task.Delay(latency, http.RequestAborted);
            }

            if (control)
            {
                // Control requests need the key in the header; failures are not injected into them.
                if (!KeyMatches(request.Headers[ApiKeyHeader], standIn.ApiKey))
                {
                    await MessageAsync(http, HttpStatusCode.Unauthorized, "Not Authorized");
                    return;
                }
            }
            else if (request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
            {
                if (standIn.TryTakeFailure(out var failure, out var retryAfter))
                {
                    if (retryAfter is { } wait)
                    {
                        http.Response.Headers.RetryAfter = ((long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                    }

                    await MessageAsync(http, failure, ReasonPhrases.GetReasonPhrase((int)failure) is { Length: > 0 } reason ? reason : "Error");
                    return;
                }

                if (!KeyMatches(request.Headers[ApiKeyHeader], standIn.ApiKey) && !KeyMatches(request.Query["api_key"], standIn.ApiKey))
                {
                    await MessageAsync(http, HttpStatusCode.Unauthorized, "Not Authorized");
                    return;
                }

                // FreeScout runs on PHP behind a web server, and some of those refuse a chunked request body (411) or hand
                // PHP an empty one: a body must come with its length.
                if (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0)
                {
                    await MessageAsync(http, HttpStatusCode.LengthRequired, "Length Required");
                    return;
                }
            }

            await next(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away during the latency or the answer.
        }
        finally
        {
            if (!http.RequestAborted.IsCancellationRequested)
            {
                status = http.Response.StatusCode;
            }

            if (!control)
            {
                var apiKey = request.Headers.TryGetValue(ApiKeyHeader, out var header) ? header.ToString() : null;
                standIn.Record(new StandInRequest(received, request.Method, request.Path.Value ?? "", request.QueryString.Value ?? "", apiKey, status));
            }
        }
    }

    private static bool KeyMatches(string? given, string expected) =>
        given is { Length: > 0 }
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected));

    private static async Task ListAsync(HttpContext http, FreeScoutStandIn standIn)
    {
        var query = ConversationQuery.Parse(http.Request.Query, out var error);
        if (query is null)
        {
            await MessageAsync(http, HttpStatusCode.BadRequest, error ?? "Bad request");
            return;
        }

        var matching = standIn.Store.Current().Sorted(query.Order).Where(s => query.Matches(s.Conversation)).ToList();
        var skip = (long)(query.Page - 1) * query.PageSize;
        var body = new ArrayBufferWriter<byte>(16 * 1024);
        body.Write(ListStart);
        var first = true;
        foreach (var stored in matching.Skip((int)Math.Min(skip, int.MaxValue)).Take(query.PageSize))
        {
            if (!first)
            {
                body.Write(","u8);
            }

            body.Write(stored.Json);
            first = false;
        }

        // Laravel's paginator: lastPage is at least 1, currentPage is the page asked for even past the end.
        var totalPages = Math.Max(1, (matching.Count + query.PageSize - 1) / query.PageSize);
        body.Write(Encoding.ASCII.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $$$"""]},"page":{"size":{{{query.PageSize}}},"totalElements":{{{matching.Count}}},"totalPages":{{{totalPages}}},"number":{{{query.Page}}}}}""")));
        await JsonAsync(http, HttpStatusCode.OK, body.WrittenMemory);
    }

    private static async Task GetAsync(HttpContext http, FreeScoutStandIn standIn)
    {
        var id = int.Parse((string)http.Request.RouteValues["id"]!, CultureInfo.InvariantCulture);
        if (standIn.Store.Find(id) is { } stored)
        {
            await JsonAsync(http, HttpStatusCode.OK, stored.Json);
        }
        else
        {
            await MessageAsync(http, HttpStatusCode.NotFound, "Not found");
        }
    }

    private static async Task TouchAsync(HttpContext http, FreeScoutStandIn standIn)
    {
        var query = http.Request.Query;
        var count = 1;
        if (query["count"].ToString() is { Length: > 0 } countText
            && (!int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out count)))
        {
            await MessageAsync(http, HttpStatusCode.BadRequest, $"count is not a number: {countText}");
            return;
        }

        var at = TimeProvider.System.GetUtcNow();
        if (query["at"].ToString() is { Length: > 0 } atText
            && !DateTimeOffset.TryParse(atText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out at))
        {
            await MessageAsync(http, HttpStatusCode.BadRequest, $"at is not a date: {atText}");
            return;
        }

        var touched = standIn.TouchOldest(count, at);
        var json = new PhpJsonWriter();
        json.StartObject();
        json.Property("touched", touched.Count);
        json.DateProperty("updatedAt", FreeScoutStandIn.ToWholeSeconds(at));
        json.EndObject();
        await JsonAsync(http, HttpStatusCode.OK, json.ToUtf8());
    }

    private static async Task StatsAsync(HttpContext http, FreeScoutStandIn standIn)
    {
        var json = new PhpJsonWriter();
        json.StartObject();
        json.Property("requests", standIn.RequestCount);
        json.Property("conversations", standIn.Count);
        json.EndObject();
        await JsonAsync(http, HttpStatusCode.OK, json.ToUtf8());
    }

    private static Task MessageAsync(HttpContext http, HttpStatusCode status, string message)
    {
        var json = new PhpJsonWriter();
        json.StartObject();
        json.Property("message", message);
        json.EndObject();
        return JsonAsync(http, status, json.ToUtf8());
    }

    private static async Task JsonAsync(HttpContext http, HttpStatusCode status, ReadOnlyMemory<byte> body)
    {
        http.Response.StatusCode = (int)status;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = body.Length;
        await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }
}
