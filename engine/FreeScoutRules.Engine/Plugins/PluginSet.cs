using FreeScoutRules.Actions;

namespace FreeScoutRules.Engine.Plugins;

/// <summary>A plugin that could not be used, and why: shown to the ops engineer with its path.</summary>
internal sealed record PluginProblem(string Path, string Reason)
{
    public override string ToString() => $"{Path}: {Reason}";
}

/// <summary>
/// The actions of one load of a plugins folder, by name, with the plugins that failed. Thread-safe to
/// read. <see cref="Unload"/> unloads every plugin's load context; executions still running finish.
/// </summary>
internal sealed class PluginSet(IReadOnlyDictionary<string, IActionHandler> handlers, IReadOnlyList<PluginProblem> problems, IReadOnlyList<PluginLoadContext> contexts)
{
    public IReadOnlyDictionary<string, IActionHandler> Handlers { get; } = handlers;

    public IReadOnlyList<PluginProblem> Problems { get; } = problems;

    /// <summary>
    /// The actions provided, and what each one's plugin says keeps it from working with the FreeScout connection
    /// <paramref name="freeScout"/> (a plugin that throws says so too).
    /// </summary>
    public IReadOnlyDictionary<string, string> Unconfigured(FreeScoutRules.FreeScout.FreeScoutConnection? freeScout)
    {
        var unconfigured = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, handler) in Handlers)
        {
            try
            {
                if (handler.ConfigurationProblems(freeScout) is { Count: > 0 } problems)
                {
                    unconfigured[name] = string.Join("; ", problems);
                }
            }
            catch (Exception ex)
            {
                unconfigured[name] = $"its configuration check threw {ex.GetType().Name}: {ex.Message}";
            }
        }

        return unconfigured;
    }

    /// <summary>What rules are checked against with these plugins, <paramref name="secrets"/>, <paramref name="calendars"/> and the FreeScout connection.</summary>
    public Rules.RuleChecks Checks(
        IReadOnlySet<string>? secrets, IReadOnlyCollection<string>? calendars, FreeScoutRules.FreeScout.FreeScoutConnection? freeScout, bool? botUserIdSet = null) =>
        new(Handlers.Keys.ToHashSet(StringComparer.Ordinal), Unconfigured(freeScout), secrets, calendars, botUserIdSet);

    /// <summary>Starts unloading every plugin; returns weak references to their load contexts.</summary>
    public IReadOnlyList<WeakReference> Unload()
    {
        var weak = contexts.Select(c => new WeakReference(c)).ToList();
        foreach (var context in contexts)
        {
            context.Unload();
        }

        return weak;
    }
}
