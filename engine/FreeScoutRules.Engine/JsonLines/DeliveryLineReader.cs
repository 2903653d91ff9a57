using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Parsing;

namespace FreeScoutRules.Engine.JsonLines;

/// <summary>
/// Reads JSON Lines of recorded deliveries, one a line: <c>{"event": "convo.status", "body": {…}}</c>,
/// where <c>event</c> is the <c>X-FreeScout-Event</c> value and <c>body</c> the webhook body, and an optional
/// <c>"at"</c> (ISO 8601, with an offset: when it arrived). A line <c>{"clock": "…"}</c> moves time forward.
/// Blank lines are skipped. A bad line yields a <see cref="DeliveryLine"/> with its problem; reading goes on.
/// </summary>
internal static class DeliveryLineReader
{
    public static async IAsyncEnumerable<DeliveryLine> ReadAsync(
        TextReader reader, DeliveryParser parser,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(parser);
        var number = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            number++;
            if (!string.IsNullOrWhiteSpace(text))
            {
                yield return ParseLine(number, text, parser);
            }
        }
    }

    internal static DeliveryLine ParseLine(int number, string text, DeliveryParser parser)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            return Bad(number, null, DeliveryProblemKind.MalformedJson, $"the line is not JSON: {DeliveryParser.DescribeJsonError(ex)}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Bad(number, null, DeliveryProblemKind.MalformedJson, """expected an object {"event": "...", "body": {...}}""");
            }

            if (root.TryGetProperty("clock", out var clockElement))
            {
                if (root.TryGetProperty("event", out _))
                {
                    return Bad(number, null, DeliveryProblemKind.MalformedJson, "a line is a delivery or a clock, not both: give the delivery its \"at\", or put the clock on a line of its own");
                }

                return Time(clockElement) is { } clock
                    ? new DeliveryLine(number, null, default, Clock: clock)
                    : Bad(number, null, DeliveryProblemKind.MalformedJson, "\"clock\" must be a time with its offset, such as \"2026-12-01T09:00:00Z\"");
            }

            DateTimeOffset? at = null;
            if (root.TryGetProperty("at", out var atElement) && (at = Time(atElement)) is null)
            {
                return Bad(number, null, DeliveryProblemKind.MalformedJson, "\"at\" must be a time with its offset, such as \"2026-12-01T09:00:00Z\"");
            }

            if (!root.TryGetProperty("event", out var eventElement) || eventElement.ValueKind != JsonValueKind.String)
            {
                return Bad(number, null, DeliveryProblemKind.MalformedJson, "\"event\" is missing or not a string");
            }

            var eventName = eventElement.GetString();
            if (!root.TryGetProperty("body", out var body))
            {
                return Bad(number, eventName, DeliveryProblemKind.MalformedJson, "\"body\" is missing");
            }

            return new DeliveryLine(number, eventName, parser.Parse(eventName, Encoding.UTF8.GetBytes(body.GetRawText())), at);
        }
    }

    /// <summary>An ISO 8601 time with an explicit offset (a time without one would depend on the machine's zone), or <c>null</c>.</summary>
    private static DateTimeOffset? Time(JsonElement element) =>
        element.ValueKind == JsonValueKind.String && element.GetString() is { } text
            && DateTimeOffset.TryParseExact(text, ["yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK", "yyyy-MM-dd HH:mm:ssK"], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var time)
            && (text.EndsWith('Z') || text.Length > 6 && text[^6] is '+' or '-')
            ? time
            : null;

    private static DeliveryLine Bad(int number, string? eventName, DeliveryProblemKind kind, string message) =>
        new(number, eventName, ParseResult.Fail(kind, message));
}
