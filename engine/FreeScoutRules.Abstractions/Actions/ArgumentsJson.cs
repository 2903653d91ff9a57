using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;

namespace FreeScoutRules.Actions;

/// <summary>
/// Turns the arguments a rule passes to <see cref="RuleContextExtensions.Enqueue(NRules.RuleModel.IContext, string, object?)"/>
/// (usually an anonymous object) into a JSON object.
/// </summary>
/// <remarks>
/// Written by hand instead of calling <c>JsonSerializer</c>: the serializer caches metadata for every
/// type it sees, and a cached anonymous type from a rule file would keep that rule generation's
/// collectible assembly loaded forever. Reading public properties with reflection caches nothing.
/// </remarks>
internal static class ArgumentsJson
{
    private const int MaxDepth = 16;

    /// <summary>Compact, and readable in logs: no \uXXXX escaping of quotes or non-ASCII text.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions WriteOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static JsonObject From(object? arguments) => arguments switch
    {
        null => [],
        JsonObject json => (JsonObject)json.DeepClone(), // a copy: recording secret places changes it
        _ => ToNode(arguments, 0) as JsonObject
            ?? throw new ArgumentException($"Action arguments must be an object (an anonymous object such as new {{ text = \"…\" }}), not {arguments.GetType().Name}.", nameof(arguments)),
    };

    private static JsonNode? ToNode(object? value, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new ArgumentException($"Action arguments are nested more than {MaxDepth} levels deep.");
        }

        return value switch
        {
            null => null,
            JsonNode node => node.DeepClone(),
            string s => JsonValue.Create(s),
            bool b => JsonValue.Create(b),
            int or long or short or byte or uint or ushort or sbyte => JsonValue.Create(Convert.ToInt64(value, CultureInfo.InvariantCulture)),
            ulong u => JsonValue.Create(u),
            double d => JsonValue.Create(d),
            float f => JsonValue.Create(f),
            decimal m => JsonValue.Create(m),
            DateTimeOffset t => JsonValue.Create(t),
            DateTime t => JsonValue.Create(t),
            Guid g => JsonValue.Create(g),
            Enum e => JsonValue.Create(e.ToString()),
            IDictionary dictionary => ToObject(dictionary, depth),
            IEnumerable items => new JsonArray([.. items.Cast<object?>().Select(i => ToNode(i, depth + 1))]),
            _ => ToObject(value, depth),
        };
    }

    private static JsonObject ToObject(IDictionary dictionary, int depth)
    {
        var json = new JsonObject();
        foreach (DictionaryEntry entry in dictionary)
        {
            json[Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? ""] = ToNode(entry.Value, depth + 1);
        }

        return json;
    }

    private static JsonObject ToObject(object value, int depth)
    {
        var json = new JsonObject();
        foreach (var property in PropertiesOf(value.GetType()))
        {
            json[property.Name] = ToNode(property.GetValue(value), depth + 1);
        }

        return json;
    }

    /// <summary>
    /// The readable properties of a type, cached in a <see cref="System.Runtime.CompilerServices.ConditionalWeakTable{TKey, TValue}"/>:
    /// its keys are weak, so a cached rule type does not keep its collectible generation loaded.
    /// </summary>
    private static PropertyInfo[] PropertiesOf(Type type) =>
        Properties.GetValue(type, static t => [.. t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0)]);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Type, PropertyInfo[]> Properties = [];
}
