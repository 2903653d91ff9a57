using System.Text.Json;
using FluentValidation;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;
using FreeScoutRules.Engine.Parsing.Validation;

namespace FreeScoutRules.Engine.Parsing;

/// <summary>
/// Turns an event name and raw webhook body into a validated <see cref="ParsedDelivery"/>, or a
/// <see cref="DeliveryProblem"/> that says exactly what is wrong. Never throws on bad input.
/// Thread-safe: one instance serves every request.
/// </summary>
internal sealed class DeliveryParser(DeliveryParserOptions options)
{
    private static readonly ConversationValidator ConversationValidator = new();
    private static readonly CustomerValidator CustomerValidator = new();

    public DeliveryParser()
        : this(new DeliveryParserOptions())
    {
    }

    public DeliveryParserOptions Options { get; } = options;

    public ParseResult Parse(string? eventName, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrWhiteSpace(eventName))
        {
            return ParseResult.Fail(DeliveryProblemKind.UnknownEvent, "The event name is missing (X-FreeScout-Event).");
        }

        if (string.Equals(eventName, EngineEvents.TimerElapsed, StringComparison.OrdinalIgnoreCase))
        {
            return ParseResult.Fail(
                DeliveryProblemKind.UnknownEvent,
                $"The event '{eventName}' is reserved for the engine's own timers; FreeScout never sends it.");
        }

        if (string.Equals(eventName, EngineEvents.Reconciliation, StringComparison.OrdinalIgnoreCase) && !Options.AcceptReconciled)
        {
            return ParseResult.Fail(
                DeliveryProblemKind.UnknownEvent,
                $"The event '{eventName}' is reserved for snapshots the engine reads from FreeScout's REST API; FreeScout never sends it.");
        }

        if (!WebhookEvents.IsKnown(eventName) && !Options.AcceptCustomEvents && !string.Equals(eventName, EngineEvents.Reconciliation, StringComparison.Ordinal))
        {
            return ParseResult.Fail(
                DeliveryProblemKind.UnknownEvent,
                $"Unknown event '{eventName}': FreeScout sends only {string.Join(", ", WebhookEvents.All)} (a custom Workflows event is accepted only when custom events are switched on).");
        }

        if (body.IsEmpty)
        {
            return ParseResult.Fail(DeliveryProblemKind.MalformedJson, "The body is empty; FreeScout sends a JSON object.");
        }

        // FreeScout signs only the body, not the event name: a signed body re-posted under an event of another kind
        // (a conversation as customer.created, a customer as convo.note.created) is refused as not what that event carries.
        if (WebhookEvents.IsCustomerEvent(eventName))
        {
            return IsConversationShaped(body)
                ? ParseResult.Fail(DeliveryProblemKind.Invalid,
                    $"{eventName}: the body is a conversation (it has number and mailboxId), not a customer; FreeScout sends a customer with {eventName}.")
                : ParseAndValidate(eventName, body, FreeScoutJsonContext.Default.Customer, CustomerValidator,
                    customer => new ParsedDelivery(eventName, null, customer), static _ => null);
        }

        return ParseAndValidate(eventName, body, FreeScoutJsonContext.Default.Conversation, ConversationValidator,
            conversation => new ParsedDelivery(eventName, conversation, null),
            static c => c.Id > 0 && c.Number <= 0 && string.IsNullOrEmpty(c.Status)
                ? "the body is not a conversation (it has no number and no status; a customer's body?); FreeScout sends a conversation with every convo.* event."
                : null);
    }

    /// <summary>True when the top level of the JSON object has a conversation's <c>number</c> and <c>mailboxId</c>, which a customer never has.</summary>
    private static bool IsConversationShaped(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 64 });
        var (number, mailbox) = (false, false);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                number |= reader.ValueTextEquals("number"u8);
                mailbox |= reader.ValueTextEquals("mailboxId"u8);
                reader.Read();
                reader.Skip();
            }
        }
        catch (JsonException)
        {
            return false; // the parse that follows says what is wrong
        }

        return number && mailbox;
    }

    private static ParseResult ParseAndValidate<T>(
        string eventName,
        ReadOnlySpan<byte> body,
        System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo,
        IValidator<T> validator,
        Func<T, ParsedDelivery> wrap,
        Func<T, string?> wrongKind)
        where T : class
    {
        T? payload;
        try
        {
            payload = JsonSerializer.Deserialize(body, typeInfo);
        }
        catch (JsonException ex)
        {
            return ParseResult.Fail(DeliveryProblemKind.MalformedJson, $"{eventName}: {DescribeJsonError(ex)}");
        }

        if (payload is null)
        {
            return ParseResult.Fail(DeliveryProblemKind.MalformedJson, $"{eventName}: the body is JSON null, not an object.");
        }

        if (wrongKind(payload) is { } problem)
        {
            return ParseResult.Fail(DeliveryProblemKind.Invalid, $"{eventName}: {problem}");
        }

        var validation = validator.Validate(payload);
        if (!validation.IsValid)
        {
            var errors = string.Join("; ", validation.Errors.Select(e => $"{e.PropertyName} {e.ErrorMessage}"));
            return ParseResult.Fail(DeliveryProblemKind.Invalid, $"{eventName}: {errors}");
        }

        return ParseResult.Ok(wrap(payload));
    }

    /// <summary>Rewrites System.Text.Json's messages, which name CLR types, into the JSON terms a sender understands.</summary>
    internal static string DescribeJsonError(JsonException ex)
    {
        var where = ex.Path is null or "$" ? "" : $" at {ex.Path}";
        var position = ex.LineNumber is { } line ? $" (line {line + 1}, byte {ex.BytePositionInLine + 1})" : "";
        var message = ex.Message;
        if (message.Contains("could not be converted", StringComparison.Ordinal))
        {
            return $"wrong type{where}{position}: {ExpectedType(message)}";
        }

        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
        {
            return $"duplicate property{where}{position}";
        }

        if (message.Contains("maximum", StringComparison.OrdinalIgnoreCase) && message.Contains("depth", StringComparison.OrdinalIgnoreCase))
        {
            return $"JSON nested too deeply{where}{position} (at most 64 levels)";
        }

        // Reader errors ("'x' is an invalid start of a value", "Expected depth to be zero…"): the text is already JSON-level.
        var firstSentence = message.Split(" Path:", 2)[0].Split(" LineNumber:", 2)[0].TrimEnd('.', ' ');
        return $"malformed JSON{where}{position}: {firstSentence}";
    }

    private static string ExpectedType(string message)
    {
        if (message.Contains("System.Int", StringComparison.Ordinal) || message.Contains("System.Double", StringComparison.Ordinal))
        {
            return "expected a number";
        }

        // Before strings: a list of strings is named IReadOnlyList`1[System.String].
        if (message.Contains("IReadOnlyList", StringComparison.Ordinal))
        {
            return "expected an array";
        }

        if (message.Contains("System.String", StringComparison.Ordinal))
        {
            return "expected a string";
        }

        if (message.Contains("DateTimeOffset", StringComparison.Ordinal))
        {
            return "expected a date like 2025-06-02T10:26:37Z";
        }

        return message.Contains("FreeScoutRules.FreeScout.", StringComparison.Ordinal)
            ? "expected an object"
            : "unexpected value";
    }
}
