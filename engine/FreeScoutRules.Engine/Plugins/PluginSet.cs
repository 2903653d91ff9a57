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
