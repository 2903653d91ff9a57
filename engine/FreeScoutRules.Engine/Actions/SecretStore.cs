using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FreeScoutRules.Actions;

namespace FreeScoutRules.Engine.Actions;

/// <summary>
/// The secrets configured under <c>Secrets:NAME</c>. Resolves <c>secret://NAME</c> references in an
/// intent's arguments for one attempt, and redacts the values from whatever a plugin answers, so that a
/// value never reaches storage or the log. Thread-safe; immutable.
/// </summary>
internal sealed partial class SecretStore
{
    private readonly Dictionary<string, string> _values;

    public SecretStore(IReadOnlyDictionary<string, string>? values)
    {
        _values = new Dictionary<string, string>(values ?? new Dictionary<string, string>(), StringComparer.Ordinal);
    }

    /// <summary>The names configured (never the values), for FSR0007.</summary>
    public IReadOnlySet<string> Names => _values.Keys.ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// <paramref name="arguments"/> (JSON) with every reference in its string values replaced by the
    /// secret's value; false with the unknown names when some are not configured.
    /// </summary>
    public bool TryResolve(string arguments, out string resolved, out IReadOnlyList<string> unknown)
    {
        resolved = arguments;
        unknown = [];
        if (!arguments.Contains(Secret.Scheme, StringComparison.Ordinal))
        {
            return true;
        }

        var missing = new List<string>();
        var node = JsonNode.Parse(arguments);
        var replaced = Resolve(node, missing);
        unknown = missing.Distinct(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            return false;
        }

        resolved = replaced?.ToJsonString(ArgumentsWriteOptions) ?? "null";
        return true;
    }

    /// <summary><paramref name="text"/> with every configured value replaced by its reference.</summary>
    public string? Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text;
        }

        foreach (var (name, value) in _values.OrderByDescending(v => v.Value.Length))
        {
            if (value.Length > 0)
            {
                text = text.Replace(value, Secret.Scheme + name, StringComparison.Ordinal);
            }
        }

        return text;
    }

    private static readonly System.Text.Json.JsonSerializerOptions ArgumentsWriteOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private JsonNode? Resolve(JsonNode? node, List<string> missing) => node switch
    {
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(p.Key, Resolve(p.Value, missing)))),
        JsonArray array => new JsonArray([.. array.Select(i => Resolve(i, missing))]),
        JsonValue value when value.TryGetValue<string>(out var text) => JsonValue.Create(Reference().Replace(text, m =>
        {
            if (_values.TryGetValue(m.Groups[1].Value, out var secret))
            {
                return secret;
            }

            missing.Add(m.Groups[1].Value);
            return m.Value;
        })),
        _ => node?.DeepClone(),
    };

    [GeneratedRegex(@"secret://([A-Za-z0-9_]+)")]
    private static partial Regex Reference();
}
