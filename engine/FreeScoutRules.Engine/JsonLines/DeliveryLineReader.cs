using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Parsing;

namespace FreeScoutRules.Engine.JsonLines;

/// <summary>
/// Reads JSON Lines of recorded deliveries, one a line: <c>{"event": "convo.status", "body": {…}}</c>,
/// where <c>event</c> is the <c>X-FreeScout-Event</c> value and <c>body</c> the webhook body.
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

            if (!root.TryGetProperty("event", out var eventElement) || eventElement.ValueKind != JsonValueKind.String)
            {
                return Bad(number, null, DeliveryProblemKind.MalformedJson, "\"event\" is missing or not a string");
            }

            var eventName = eventElement.GetString();
            if (!root.TryGetProperty("body", out var body))
            {
                return Bad(number, eventName, DeliveryProblemKind.MalformedJson, "\"body\" is missing");
            }

            return new DeliveryLine(number, eventName, parser.Parse(eventName, Encoding.UTF8.GetBytes(body.GetRawText())));
        }
    }

    private static DeliveryLine Bad(int number, string? eventName, DeliveryProblemKind kind, string message) =>
        new(number, eventName, ParseResult.Fail(kind, message));
}
