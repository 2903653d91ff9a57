using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.FreeScoutApi;

/// <summary>
/// What the engine reads from FreeScout's REST API (API &amp; Webhooks module): conversations updated since a
/// time, oldest first, a page at a time. The <see cref="HttpClient"/> comes from the host's named client, with
/// the base address, the API key header, the polite request rate and the retries (429, 5xx) in its pipeline;
/// what still fails is turned here into a <see cref="FreeScoutApiException"/> that says what to check.
/// Thread-safe.
/// </summary>
internal sealed class FreeScoutClient(HttpClient http)
{
    private readonly DeliveryParser _parser = new(new DeliveryParserOptions { AcceptReconciled = true });

    /// <summary>
    /// One page of <c>GET api/conversations?updatedSince=…&amp;sortField=updatedAt&amp;sortOrder=asc</c> (FreeScout's filter is
    /// inclusive: <c>updated_at &gt;= since</c>, to the second). Each conversation comes with its exact JSON, validated as a
    /// webhook's body is; one that does not validate is counted in <see cref="ConversationPage.Invalid"/>, not returned.
    /// </summary>
    /// <exception cref="FreeScoutApiException">FreeScout could not be reached, refused the key, or did not answer with the API's JSON.</exception>
    public async Task<ConversationPage> ListUpdatedSinceAsync(DateTimeOffset since, int page, int pageSize, CancellationToken cancellationToken)
    {
        var query = string.Create(CultureInfo.InvariantCulture,
            $"api/conversations?updatedSince={Uri.EscapeDataString(since.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))}&sortField=updatedAt&sortOrder=asc&page={page}&pageSize={pageSize}");
        var where = new Uri(http.BaseAddress!, query);
        byte[] body;
        try
        {
            using var response = await http.GetAsync(new Uri(query, UriKind.Relative), cancellationToken);
            body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new FreeScoutApiException(Refusal(response.StatusCode, response.ReasonPhrase, body, where));
            }
        }
        catch (HttpRequestException ex)
        {
            throw new FreeScoutApiException($"FreeScout at {Site(where)} did not answer: {Describe(ex)} (is FreeScout:Url, FREESCOUTRULES_FREESCOUT_URL, right and FreeScout up?)", ex);
        }
        catch (Exception ex) when (ex is not FreeScoutApiException && !cancellationToken.IsCancellationRequested)
        {
            // The resilience pipeline's own refusals (a timeout, a rate limiter queue that is full), a cancelled attempt.
            throw new FreeScoutApiException($"FreeScout at {Site(where)} did not answer: {ex.GetType().Name}: {Describe(ex)}", ex);
        }

        return Read(body, where);
    }

    private ConversationPage Read(byte[] body, Uri where)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("_embedded", out var embedded) || embedded.ValueKind != JsonValueKind.Object
                || !embedded.TryGetProperty("conversations", out var items) || items.ValueKind != JsonValueKind.Array)
            {
                throw new FreeScoutApiException($"FreeScout's answer at {where.GetLeftPart(UriPartial.Path)} has no _embedded.conversations list: is FreeScout:Url FreeScout's address, with the API & Webhooks module enabled?");
            }

            var conversations = new List<ListedConversation>(items.GetArrayLength());
            var invalid = new List<string>();
            foreach (var item in items.EnumerateArray())
            {
                var json = Encoding.UTF8.GetBytes(item.GetRawText());
                var parsed = _parser.Parse(EngineEvents.Reconciliation, json);
                if (parsed.Delivery?.Conversation is { UpdatedAt: { } updatedAt } conversation)
                {
                    conversations.Add(new ListedConversation(conversation, updatedAt, json));
                }
                else
                {
                    invalid.Add(parsed.Problem?.Message ?? "not a conversation");
                }
            }

            return new ConversationPage(conversations, items.GetArrayLength(), invalid);
        }
        catch (JsonException)
        {
            var start = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 40)).ReplaceLineEndings(" ");
            throw new FreeScoutApiException($"FreeScout's answer at {where.GetLeftPart(UriPartial.Path)} is not JSON (it starts with '{start}'): is FreeScout:Url (FREESCOUTRULES_FREESCOUT_URL) FreeScout's address?");
        }
    }

    private static string Refusal(HttpStatusCode status, string? reason, byte[] body, Uri where)
    {
        var message = Message(body);
        var said = $"{(int)status} {reason}{(message is null ? "" : $": {message}")}";
        return status switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                $"FreeScout refused the API key ({said}): set FreeScout:ApiKey (FREESCOUTRULES_FREESCOUT_API_KEY) to the key shown in FreeScout under Manage » API & Webhooks",
            HttpStatusCode.NotFound =>
                $"FreeScout answered {said} for {where.GetLeftPart(UriPartial.Path)}: is FreeScout:Url (FREESCOUTRULES_FREESCOUT_URL) FreeScout's address, with the API & Webhooks module enabled?",
            HttpStatusCode.TooManyRequests => $"FreeScout kept answering {said} after the retries: it limits our requests (lower Reconciliation:RequestsPerSecond)",
            _ => $"FreeScout answered {said} for {where.GetLeftPart(UriPartial.Path)}{((int)status >= 500 ? " after the retries" : "")}",
        };
    }

    /// <summary>FreeScout's own error message (<c>{"message": …}</c>), if the body has one.</summary>
    private static string? Message(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("message", out var message)
                && message.ValueKind == JsonValueKind.String
                ? message.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Site(Uri where) => where.GetLeftPart(UriPartial.Authority);

    /// <summary>The message with its causes ("The SSL connection could not be established" says why only inside).</summary>
    private static string Describe(Exception exception) => FreeScoutRules.Actions.ActionResult.Innermost(exception);
}

/// <summary>A conversation as FreeScout's API lists it: parsed, and its exact JSON (stored as the reconciled snapshot's body).</summary>
internal sealed record ListedConversation(Conversation Conversation, DateTimeOffset UpdatedAt, byte[] Json);

/// <summary>One page of conversations; <see cref="Count"/> counts the invalid ones too (a full page means there may be more).</summary>
internal sealed record ConversationPage(IReadOnlyList<ListedConversation> Conversations, int Count, IReadOnlyList<string> Invalid);

/// <summary>FreeScout's API could not be read; the message says what to check. Never contains the API key.</summary>
internal sealed class FreeScoutApiException : Exception
{
    public FreeScoutApiException(string message)
        : base(message)
    {
    }

    public FreeScoutApiException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public FreeScoutApiException()
    {
    }
}
