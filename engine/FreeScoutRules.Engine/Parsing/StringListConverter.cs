using System.Text.Json;
using System.Text.Json.Serialization;

namespace FreeScoutRules.Engine.Parsing;

/// <summary>
/// Reads a JSON array of strings (<c>to</c>, <c>cc</c>, <c>bcc</c>…) into an array, the empty one
/// shared: most of these lists are empty, and the generic collection converter allocates a list for
/// each (docs/benchmarks.md). A <c>null</c> item is left out: rules can rely on every item being a
/// string, and refusing the delivery for it would lose it once FreeScout stops retrying.
/// </summary>
internal sealed class StringListConverter : JsonConverter<IReadOnlyList<string>>
{
    public override IReadOnlyList<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException();
        }

        List<string>? items = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.Null)
            {
                continue;
            }

            if (reader.TokenType != JsonTokenType.String)
            {
                throw new JsonException();
            }

            (items ??= new List<string>(2)).Add(reader.GetString()!);
        }

        return items is null ? [] : items.ToArray();
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartArray();
        foreach (var item in value)
        {
            writer.WriteStringValue(item);
        }

        writer.WriteEndArray();
    }
}
