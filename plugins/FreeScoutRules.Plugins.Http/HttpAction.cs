using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FluentValidation;
using FreeScoutRules.Actions;

namespace FreeScoutRules.Plugins.Http;

/// <summary>
/// Arguments of <c>http</c>: <c>ctx.Enqueue("http", new { url = "https://…", method = "POST",
/// headers = new Dictionary&lt;string, string&gt; { { "Authorization", "…" } }, body = new { … } })</c>
/// (a collection initialiser: NRules actions are expression trees, which refuse index initialisers).
/// </summary>
public sealed record HttpArguments
{
    public string Url { get; init; } = "";

    /// <summary>GET, POST, PUT, PATCH or DELETE. Default POST.</summary>
    public string Method { get; init; } = "POST";

    public Dictionary<string, string> Headers { get; init; } = [];

    /// <summary>Sent as JSON; none when absent.</summary>
    public JsonElement? Body { get; init; }

    /// <summary>
    /// Follow a redirect to another origin (scheme, host or port). Off by default: only same-origin redirects are
    /// followed. Never honoured when the intent carries a secret, which never goes to another origin.
    /// </summary>
    public bool FollowCrossOriginRedirects { get; init; }
}

/// <summary>
/// The built-in action <c>http</c>: sends JSON to a URL with the chosen method and headers through the
/// host's HttpClient (standard resilience: timeout, retries on transient errors and 429 with
/// Retry-After, circuit breaker, rate limiter), with the intent's key as <c>Idempotency-Key</c>.
/// 2xx is done; 408, 429 and 5xx are worth another attempt; other answers are permanent failures.
/// An open circuit surfaces as an exception, which the runner counts as a retryable failure.
/// Redirects are followed here, not by the HttpClient (the engine turns that off for every client): up to
/// <see cref="MaxRedirects"/> to the same origin; to another origin only with <c>followCrossOriginRedirects = true</c>
/// and never when the intent carries a secret (a 307/308 would re-send the body too), so a secret header never
/// reaches an origin the rule did not name. Cross-origin hops drop <c>Authorization</c> and <c>Cookie</c>.
/// </summary>
public sealed class HttpAction : ActionHandler<HttpArguments>
{
    private static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    private static readonly ArgumentsRules ArgumentsValidator = new();

    /// <inheritdoc />
    public override string Name => "http";

    /// <inheritdoc />
    protected override IValidator<HttpArguments> Validator => ArgumentsValidator;

    /// <summary>The most redirects one attempt follows.</summary>
    public const int MaxRedirects = 5;

    /// <summary>Headers a cross-origin hop never carries, whatever the rule set.</summary>
    private static readonly string[] OriginBoundHeaders = ["Authorization", "Proxy-Authorization", "Cookie"];

    /// <summary>
    /// The URL's origin, <c>scheme://host:port</c> (no user info, path or query): the intents of one conversation run in
    /// order per origin, and one origin failing or hanging holds back no other. A URL the rule built around a secret
    /// reference (<c>Secret.Ref("HOOK")</c> as the whole URL, or as its host) has that reference as its destination,
    /// unresolved. <c>null</c> (the action as a whole) for arguments without a usable URL, which fail validation anyway.
    /// </summary>
    public override string? Destination(string arguments)
    {
        string? url;
        try
        {
            using var document = JsonDocument.Parse(arguments);
            url = document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.EnumerateObject()
                    .FirstOrDefault(p => string.Equals(p.Name, nameof(HttpArguments.Url), StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                    .Value is { ValueKind: JsonValueKind.String } value ? value.GetString() : null
                : null;
        }
        catch (JsonException)
        {
            return null;
        }

        return url is null ? null : DestinationOf(url);
    }

    /// <summary>The destination of <paramref name="url"/> as the rule wrote it (see <see cref="Destination"/>).</summary>
    internal static string? DestinationOf(string url)
    {
        const string reference = "secret://";
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        var start = url.StartsWith(reference, StringComparison.Ordinal) ? 0
            : scheme > 0 && url.AsSpan(scheme + 3).StartsWith(reference, StringComparison.Ordinal) ? scheme + 3
            : -1;
        if (start >= 0)
        {
            // The host is a secret: its reference names the destination (Uri would read every such URL as host "secret").
            var end = start + reference.Length;
            while (end < url.Length && (char.IsAsciiLetterOrDigit(url[end]) || url[end] == '_'))
            {
                end++;
            }

            return url[..end];
        }

        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? $"{uri.Scheme}://{uri.IdnHost}:{uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
            : null;
    }

    /// <inheritdoc />
    protected override async ValueTask<ActionResult> ExecuteAsync(HttpArguments arguments, ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(context);
        using var client = context.HttpClientFactory.CreateClient(Name);
        var first = new Uri(arguments.Url);
        var target = first;
        var method = new HttpMethod(arguments.Method.ToUpperInvariant());
        var body = arguments.Body;
        var headers = new Dictionary<string, string>(arguments.Headers, StringComparer.OrdinalIgnoreCase);
        for (var hop = 0; ; hop++)
        {
            var what = $"{method} {Redacted(target)}{(hop == 0 ? "" : $" (redirected from {Redacted(first)})")}";
            using var request = Request(method, target, body, headers, context.IdempotencyKey);
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request, context.CancellationToken);
            }
            catch (HttpRequestException ex)
            {
                return ActionResult.Unreachable(what, ex);
            }

            using (response)
            {
                if (!IsRedirect(response.StatusCode) || response.Headers.Location is not { } location)
                {
                    var result = ActionResult.FromResponse(response, what);
                    // A redirected call's record names where it ended.
                    return hop > 0 && result.Outcome == ActionOutcome.Done ? result with { Reason = $"{what} answered {(int)response.StatusCode}" } : result;
                }

                var next = new Uri(target, location);
                if (hop == MaxRedirects)
                {
                    return ActionResult.Fail($"{what} redirected more than {MaxRedirects} times (last to {Redacted(next)}).");
                }

                if (next.Scheme is not ("http" or "https"))
                {
                    return ActionResult.Fail($"{what} redirected to {Redacted(next)}, which is not an http(s) URL.");
                }

                if (!SameOrigin(target, next))
                {
                    if (context.CarriesSecrets)
                    {
                        return ActionResult.Fail(
                            $"{what} redirected to another origin, {Redacted(next)}: not followed, because the intent carries a secret (a secret never leaves the origin the rule named). Point the rule at the final URL");
                    }

                    if (!arguments.FollowCrossOriginRedirects)
                    {
                        return ActionResult.Fail(
                            $"{what} redirected to another origin, {Redacted(next)}: not followed. Point the rule at the final URL, or set followCrossOriginRedirects = true in the action's arguments.");
                    }

                    foreach (var name in OriginBoundHeaders)
                    {
                        headers.Remove(name);
                    }
                }

                // 307/308 repeat the request, body and all. Browsers turn a POST redirected with 301/302/303 into a GET without
                // its body; for a webhook that is a call that never delivered its payload, so it is refused, naming where to point.
                if (response.StatusCode is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
                    && method != HttpMethod.Get && method != HttpMethod.Head)
                {
                    return ActionResult.Fail(
                        $"{what} answered {(int)response.StatusCode} to {Redacted(next)}: not followed, because that would send a GET without the body. Point the rule at the final URL (a 307 or 308 redirect is followed with the body).");
                }

                target = next;
            }
        }
    }

    private static HttpRequestMessage Request(HttpMethod method, Uri url, JsonElement? body, Dictionary<string, string> headers, string idempotencyKey)
    {
        var request = new HttpRequestMessage(method, url);
        if (body is { } json)
        {
            request.Content = new StringContent(json.GetRawText(), Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        }

        foreach (var (name, value) in headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        request.Headers.Remove("Idempotency-Key");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        return request;
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    private static string Redacted(Uri url) => Redacted(url.GetLeftPart(UriPartial.Path));

    /// <summary>The URL without its query string, which often carries tokens (Slack, Teams): never in logs or errors.</summary>
    private static string Redacted(string url) => url.Split('?', 2)[0];

    private sealed class ArgumentsRules : AbstractValidator<HttpArguments>
    {
        public ArgumentsRules()
        {
            RuleFor(a => a.Url).Must(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                .WithMessage("url must be an absolute http(s) URL");
            RuleFor(a => a.Method).Must(m => Methods.Contains(m.ToUpperInvariant()))
                .WithMessage("method must be one of GET, POST, PUT, PATCH, DELETE");
        }
    }
}
