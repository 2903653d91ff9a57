namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// The severity of each of the engine's own diagnostics (<c>FSR0001</c>…), with overrides from the
/// configuration (<c>Rules:Severity:FSR0002 = error</c>) or the command line (<c>--severity FSR0002=error</c>).
/// <c>none</c> switches a diagnostic off. Immutable.
/// </summary>
internal sealed class RuleDiagnosticSeverities
{
    private static readonly Dictionary<string, RuleDiagnosticSeverity?> Defaults = new(StringComparer.OrdinalIgnoreCase)
    {
        [EngineDiagnosticIds.UnknownEvent] = RuleDiagnosticSeverity.Error,
        [EngineDiagnosticIds.UnknownStatus] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.UnknownAction] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.BlockingCall] = RuleDiagnosticSeverity.Error,
        [EngineDiagnosticIds.DynamicInRule] = RuleDiagnosticSeverity.Error,
        [EngineDiagnosticIds.OverridesBuiltInRules] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.UnknownSecret] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.ActionNotConfigured] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.TimerNotHandled] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.TimerNotScheduled] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.UnknownCalendar] = RuleDiagnosticSeverity.Warning,
        [EngineDiagnosticIds.BotUserIdNotSet] = RuleDiagnosticSeverity.Warning,
    };

    private readonly Dictionary<string, RuleDiagnosticSeverity?> _severities;

    private RuleDiagnosticSeverities(Dictionary<string, RuleDiagnosticSeverity?> severities) => _severities = severities;

    public static RuleDiagnosticSeverities Default { get; } = new(new Dictionary<string, RuleDiagnosticSeverity?>(Defaults, StringComparer.OrdinalIgnoreCase));

    /// <summary>The ids whose severity can be set.</summary>
    public static IReadOnlyCollection<string> Configurable => Defaults.Keys;

    /// <summary>The severity of <paramref name="id"/>, or <c>null</c> when switched off.</summary>
    public RuleDiagnosticSeverity? Of(string id) => _severities.GetValueOrDefault(id, RuleDiagnosticSeverity.Error);

    /// <summary>Applies overrides such as <c>FSR0002 → error</c>.</summary>
    /// <exception cref="ArgumentException">An unknown id or a severity other than error, warning or none.</exception>
    public static RuleDiagnosticSeverities With(IEnumerable<KeyValuePair<string, string?>> overrides)
    {
        var severities = new Dictionary<string, RuleDiagnosticSeverity?>(Defaults, StringComparer.OrdinalIgnoreCase);
        foreach (var (id, value) in overrides)
        {
            if (!Defaults.ContainsKey(id))
            {
                throw new ArgumentException($"'{id}' is not a configurable diagnostic ({string.Join(", ", Defaults.Keys)}).");
            }

            severities[id] = value?.Trim().ToUpperInvariant() switch
            {
                "ERROR" => RuleDiagnosticSeverity.Error,
                "WARNING" => RuleDiagnosticSeverity.Warning,
                "NONE" => null,
                _ => throw new ArgumentException($"The severity of {id} must be error, warning or none, not '{value}'."),
            };
        }

        return new RuleDiagnosticSeverities(severities);
    }

    /// <summary>A stable text of the settings, part of the compile cache key.</summary>
    public override string ToString() =>
        string.Join(",", _severities.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value?.ToString() ?? "none"}"));
}
