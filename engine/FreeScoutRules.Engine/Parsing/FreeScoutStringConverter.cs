using System.Text.Json;
using System.Text.Json.Serialization;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Parsing;

/// <summary>
/// Reads JSON strings like System.Text.Json does, with two differences for FreeScout's payloads:
/// <list type="bullet">
/// <item>an empty array reads as the empty string: PHP encodes an empty value as <c>[]</c>, and the
/// module once sent <c>"subject": []</c> (FreeScout issue #2890); refusing it would lose the delivery
/// after FreeScout's retries;</item>
/// <item>the short spellings FreeScout repeats in every payload (statuses, states, thread and person
/// types, sources) come back as the shared constants instead of new strings: a delivery carries dozens
/// of them, and not allocating and transcoding each is a measurable part of parsing (docs/benchmarks.md).</item>
/// </list>
/// </summary>
internal sealed class FreeScoutStringConverter : JsonConverter<string>
{
    private static readonly string[] Known =
    [
        ConversationStatus.Active, ConversationStatus.Pending, ConversationStatus.Closed, ConversationStatus.Spam,
        ThreadStatus.NoChange, ThreadType.Customer, ThreadType.Message, ThreadType.Note, ThreadType.LineItem, ThreadType.Chat,
        ConversationState.Draft, ConversationState.Published, ConversationState.Deleted,
        SourceType.Email, SourceType.Web, SourceType.Api, "user", "phone", "custom", "",
    ];

    // Known spellings by length (all ASCII): the few candidates to compare a value with.
    private static readonly (byte[] Utf8, string Value)[][] ByLength = BuildTable();

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            return reader.Read() && reader.TokenType == JsonTokenType.EndArray ? "" : throw new JsonException();
        }

        if (reader.TokenType != JsonTokenType.String)
        {
            // Same failure as the built-in converter: the serializer adds the path and type.
            throw new JsonException();
        }

        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            var value = reader.ValueSpan;
            if (value.Length < ByLength.Length)
            {
                foreach (var (utf8, known) in ByLength[value.Length])
                {
                    if (value.SequenceEqual(utf8))
                    {
                        return known;
                    }
                }
            }
        }

        return reader.GetString();
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value);
    }

    private static (byte[] Utf8, string Value)[][] BuildTable()
    {
        var longest = Known.Max(k => k.Length);
        var table = new (byte[], string)[longest + 1][];
        for (var length = 0; length <= longest; length++)
        {
            table[length] = [.. Known.Where(k => k.Length == length).Select(k => (System.Text.Encoding.ASCII.GetBytes(k), k))];
        }

        return table;
    }
}
