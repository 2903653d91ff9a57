using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FreeScoutRules.Actions;

namespace FreeScoutRules.Engine.Actions;

/// <summary>What <see cref="SecretStore.Resolve"/> made of an intent's arguments.</summary>
/// <param name="Arguments">The arguments with the values in; <c>null</c> when a secret is not configured.</param>
/// <param name="Unknown">The names of the secrets referenced but not configured.</param>
/// <param name="CarriesSecrets">True when the rule put a secret in (the arguments must not go to another origin).</param>
internal sealed record SecretResolution(string? Arguments, IReadOnlyList<string> Unknown, bool CarriesSecrets)
{
    /// <summary>Why the intent cannot run when <see cref="Arguments"/> is <c>null</c> (a permanent failure: the author's to fix); else <c>null</c>.</summary>
    public string? Refusal => Arguments is not null
        ? null
        : Unknown.Count > 0
            ? $"Unknown secret {string.Join(", ", Unknown.Select(n => $"'{n}'"))}: configure it as Secrets:{Unknown[0]} (environment Secrets__{Unknown[0]}), then retry the intent."
            : "The intent's secret places do not fit its arguments (was its row changed by hand?); record the intent again (re-run its delivery).";
}

/// <summary>
/// The secrets configured under <c>Secrets:NAME</c>. Puts their values into an intent's arguments for one
/// attempt, where the rule put the references, and redacts the values from whatever a plugin answers, so that a
/// value never reaches storage or the log. Thread-safe; immutable.
/// </summary>
internal sealed partial class SecretStore
{
    private readonly Dictionary<string, string> _values;

    public SecretStore(IReadOnlyDictionary<string, string>? values)
    {
        _values = new Dictionary<string, string>(values ?? new Dictionary<string, string>(), StringComparer.Ordinal);
    }

    /// <summary>Where an intent's rule put secrets (JSON Pointers into its arguments, and the names), for display.</summary>
    public static IReadOnlyList<(string Path, string Name)> Places(string? places) => SecretPlaces.Describe(places);

    /// <summary>The names configured (never the values), for FSR0007.</summary>
    public IReadOnlySet<string> Names => _values.Keys.ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// <paramref name="arguments"/> (JSON) with each secret's value put where the rule put its reference
    /// (<paramref name="places"/>, <see cref="SecretPlaces"/>); nothing else changes, so text that merely looks like a
    /// reference (a customer's subject) stays text. <c>null</c> places: no secret. Intents recorded before places
    /// existed (<see cref="SecretPlaces.Legacy"/>) resolve every reference-shaped text, as they did then.
    /// </summary>
    public SecretResolution Resolve(string arguments, string? places)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (places is null)
        {
            return new SecretResolution(arguments, [], CarriesSecrets: false);
        }

        var missing = new List<string>();
        string resolved;
        if (places == SecretPlaces.Legacy)
        {
            resolved = ResolveLegacy(JsonNode.Parse(arguments), missing)?.ToJsonString(ArgumentsWriteOptions) ?? "null";
        }
        else
        {
            var node = JsonNode.Parse(arguments) ?? throw new FormatException("The intent's arguments are null.");
            SecretPlaces.Apply(node, places, name => _values.GetValueOrDefault(name), missing);
            resolved = node.ToJsonString(ArgumentsWriteOptions);
        }

        var unknown = missing.Distinct(StringComparer.Ordinal).ToList();
        return unknown.Count > 0
            ? new SecretResolution(null, unknown, CarriesSecrets: true)
            : new SecretResolution(resolved, [], CarriesSecrets: places != SecretPlaces.Legacy || !string.Equals(resolved, arguments, StringComparison.Ordinal));
    }

    /// <summary>
    /// <see cref="Resolve"/> for an attempt: places that do not fit the arguments (a row changed by hand) are a resolution
    /// without arguments (<see cref="SecretResolution.Refusal"/>), not an exception.
    /// </summary>
    public SecretResolution ResolveForAttempt(string arguments, string? places)
    {
        try
        {
            return Resolve(arguments, places);
        }
        catch (Exception ex) when (ex is FormatException or System.Text.Json.JsonException)
        {
            return new SecretResolution(null, [], CarriesSecrets: true);
        }
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

    /// <summary>Before places were recorded: every reference-shaped text in a string value.</summary>
    private JsonNode? ResolveLegacy(JsonNode? node, List<string> missing) => node switch
    {
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(p.Key, ResolveLegacy(p.Value, missing)))),
        JsonArray array => new JsonArray([.. array.Select(i => ResolveLegacy(i, missing))]),
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
