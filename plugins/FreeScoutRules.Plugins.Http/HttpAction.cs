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
}

/// <summary>
/// The built-in action <c>http</c>: sends JSON to a URL with the chosen method and headers through the
/// host's HttpClient (standard resilience: timeout, retries on transient errors and 429 with
/// Retry-After, circuit breaker, rate limiter), with the intent's key as <c>Idempotency-Key</c>.
/// 2xx is done; 408, 429 and 5xx are worth another attempt; other answers are permanent failures.
/// An open circuit surfaces as an exception, which the runner counts as a retryable failure.
/// </summary>
public sealed class HttpAction : ActionHandler<HttpArguments>
{
    private static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    private static readonly ArgumentsRules ArgumentsValidator = new();

    /// <inheritdoc />
    public override string Name => "http";

    /// <inheritdoc />
    protected override IValidator<HttpArguments> Validator => ArgumentsValidator;

    /// <inheritdoc />
    protected override async ValueTask<ActionResult> ExecuteAsync(HttpArguments arguments, ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(context);
        using var client = context.HttpClientFactory.CreateClient(Name);
        using var request = new HttpRequestMessage(new HttpMethod(arguments.Method.ToUpperInvariant()), arguments.Url);
        if (arguments.Body is { } body)
        {
            request.Content = new StringContent(body.GetRawText(), Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        }

        foreach (var (name, value) in arguments.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        request.Headers.Remove("Idempotency-Key");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", context.IdempotencyKey);
        try
        {
            using var response = await client.SendAsync(request, context.CancellationToken);
            return ActionResult.FromResponse(response, $"{arguments.Method} {Redacted(arguments.Url)}");
        }
        catch (HttpRequestException ex)
        {
            return ActionResult.Retry($"{arguments.Method} {Redacted(arguments.Url)} failed: {ex.Message}");
        }
    }

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
