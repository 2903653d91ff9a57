using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace FreeScoutRules.Actions;

/// <summary>
/// Where the secret references sit in an intent's arguments: recorded when the arguments are serialised (from the
/// markers <see cref="Secret.Ref"/> returns, which only this process can write), stored beside the arguments, and
/// the only places where the action runner puts a secret's value. Text that merely looks like a reference (a
/// customer's <c>secret://NAME</c>) has no place, so it is sent as the text it is, and cannot fail an intent.
/// </summary>
/// <remarks>
/// The stored form is compact JSON, one object per reference: <c>[{"path":["headers","Authorization"],"at":7,"name":"hook"}]</c>,
/// a path of property names and array indexes to a string value, the reference's offset in that string (UTF-16 code
/// units, as .NET counts), and the secret's name; the string holds <c>secret://NAME</c> at that offset.
/// <see cref="Legacy"/> marks intents recorded before places existed: they resolve every reference-shaped text, as they did.
/// </remarks>
internal static partial class SecretPlaces
{
    /// <summary>The places of an intent recorded before places existed (schema 12 marks those whose arguments hold a reference).</summary>
    public const string Legacy = "legacy";

    /// <summary>
    /// Replaces, in place, every marker of this process in the string values of <paramref name="arguments"/> by
    /// <c>secret://NAME</c>, and returns where they were; <c>null</c> when there is none.
    /// </summary>
    /// <exception cref="ArgumentException">A marker is in a property's name, not a value.</exception>
    public static string? Extract(JsonNode? arguments)
    {
        List<Place>? places = null;
        Walk(arguments, [], ref places);
        return places is null ? null : Write(places);
    }

    /// <summary>
    /// <paramref name="arguments"/> (parsed, changed in place) with each secret's value put at its place;
    /// the names that <paramref name="valueOf"/> does not know are added to <paramref name="unknown"/>.
    /// </summary>
    /// <exception cref="FormatException">The places do not fit the arguments (the row was changed by hand).</exception>
    public static void Apply(JsonNode arguments, string places, Func<string, string?> valueOf, List<string> unknown)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(valueOf);
        ArgumentNullException.ThrowIfNull(unknown);
        // Several references in one string: from the last to the first, so that the offsets before stay right.
        foreach (var group in Read(places).GroupBy(p => string.Join('\u001f', p.Path)))
        {
            var (parent, key) = Locate(arguments, group.First().Path);
            var text = (parent is JsonObject o ? o[(string)key] : parent[(int)key]) is JsonValue placed && placed.TryGetValue<string>(out var found)
                ? found
                : throw new FormatException("A secret's place is not a string.");
            var resolved = new StringBuilder(text);
            foreach (var place in group.OrderByDescending(p => p.At))
            {
                var reference = Secret.Scheme + place.Name;
                if (place.At < 0 || place.At + reference.Length > text.Length || string.CompareOrdinal(text, place.At, reference, 0, reference.Length) != 0)
                {
                    throw new FormatException($"No reference to '{place.Name}' at its recorded place.");
                }

                if (valueOf(place.Name) is { } value)
                {
                    resolved.Remove(place.At, reference.Length).Insert(place.At, value);
                }
                else
                {
                    unknown.Add(place.Name);
                }
            }

            if (parent is JsonObject obj)
            {
                obj[(string)key] = resolved.ToString();
            }
            else
            {
                parent[(int)key] = resolved.ToString();
            }
        }
    }

    /// <summary>The secrets' names in <paramref name="places"/>, in order, for display.</summary>
    public static IReadOnlyList<(string Path, string Name)> Describe(string? places) =>
        places is null or Legacy ? [] : [.. Read(places).Select(p => (Pointer(p.Path), p.Name))];

    private sealed record Place(object[] Path, int At, string Name);

    private static void Walk(JsonNode? node, List<object> path, ref List<Place>? places)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj.ToList())
                {
                    if (key.Contains(Secret.MarkerStart, StringComparison.Ordinal) && Marker().IsMatch(key))
                    {
                        throw new ArgumentException("A secret reference (Secret.Ref) can be a value of the action's arguments or part of one, not the name of a property.");
                    }

                    path.Add(key);
                    if (Replace(child, path, ref places) is { } replaced)
                    {
                        obj[key] = replaced;
                    }
                    else
                    {
                        Walk(child, path, ref places);
                    }

                    path.RemoveAt(path.Count - 1);
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    path.Add(i);
                    if (Replace(array[i], path, ref places) is { } replaced)
                    {
                        array[i] = replaced;
                    }
                    else
                    {
                        Walk(array[i], path, ref places);
                    }

                    path.RemoveAt(path.Count - 1);
                }

                break;
        }
    }

    /// <summary>The string value with this process's markers replaced, or <c>null</c> when it is not a string or has none.</summary>
    private static JsonValue? Replace(JsonNode? node, List<object> path, ref List<Place>? places)
    {
        // Only strings hold markers (a date or a number is a string in JSON, but not a .NET string here).
        if (node is not JsonValue value || !value.TryGetValue<string>(out var text) || !text.Contains(Secret.MarkerStart, StringComparison.Ordinal))
        {
            return null;
        }

        var result = new StringBuilder(text.Length);
        var last = 0;
        var found = false;
        foreach (Match match in Marker().Matches(text))
        {
            if (!string.Equals(match.Groups["nonce"].Value, Secret.Nonce, StringComparison.Ordinal))
            {
                continue; // not ours: text, whatever it looks like
            }

            result.Append(text, last, match.Index - last);
            (places ??= []).Add(new Place([.. path], result.Length, match.Groups["name"].Value));
            result.Append(Secret.Scheme).Append(match.Groups["name"].Value);
            last = match.Index + match.Length;
            found = true;
        }

        return found ? JsonValue.Create(result.Append(text, last, text.Length - last).ToString()) : null;
    }

    private static (JsonNode Parent, object Key) Locate(JsonNode root, object[] path)
    {
        if (path.Length == 0)
        {
            throw new FormatException("A secret's place has an empty path.");
        }

        var node = root;
        for (var i = 0; i < path.Length - 1; i++)
        {
            node = Child(node, path[i]) ?? throw new FormatException("A secret's place is not in the arguments.");
        }

        _ = Child(node, path[^1]);
        return (node, path[^1]);
    }

    private static JsonNode? Child(JsonNode node, object key) => (node, key) switch
    {
        (JsonObject obj, string name) => obj.TryGetPropertyValue(name, out var child) ? child : throw new FormatException($"No property '{name}' at a secret's place."),
        (JsonArray array, int index) when index >= 0 && index < array.Count => array[index],
        _ => throw new FormatException("A secret's place does not fit the arguments."),
    };

    private static string Write(List<Place> places)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartArray();
            foreach (var place in places)
            {
                json.WriteStartObject();
                json.WriteStartArray("path");
                foreach (var segment in place.Path)
                {
                    if (segment is int index)
                    {
                        json.WriteNumberValue(index);
                    }
                    else
                    {
                        json.WriteStringValue((string)segment);
                    }
                }

                json.WriteEndArray();
                json.WriteNumber("at", place.At);
                json.WriteString("name", place.Name);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static List<Place> Read(string places)
    {
        try
        {
            using var document = JsonDocument.Parse(places);
            return [.. document.RootElement.EnumerateArray().Select(p => new Place(
                [.. p.GetProperty("path").EnumerateArray().Select(s => s.ValueKind == JsonValueKind.Number ? (object)s.GetInt32() : s.GetString()!)],
                p.GetProperty("at").GetInt32(),
                p.GetProperty("name").GetString()!))];
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new FormatException("The secret places of the intent are not readable.", ex);
        }
    }

    /// <summary>A JSON Pointer (RFC 6901) to a place, for display: <c>/headers/Authorization</c>.</summary>
    private static string Pointer(object[] path) =>
        string.Concat(path.Select(s => "/" + (s is string name ? name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal) : Convert.ToString(s, System.Globalization.CultureInfo.InvariantCulture))));

    [GeneratedRegex("\uE000(?<nonce>[0-9a-f]{32}):(?<name>[A-Za-z0-9_]+)\uE001")]
    private static partial Regex Marker();
}
