
namespace FreeScoutRules.Engine.Plugins;

/// <summary>The loaded plugins in force. Swapped atomically. Thread-safe.</summary>
internal sealed class PluginSetHolder
{
    private PluginSet _current = new(new Dictionary<string, FreeScoutRules.Actions.IActionHandler>(), [], []);

    public PluginSet Current => Volatile.Read(ref _current);

    /// <summary>Puts <paramref name="plugins"/> in force and returns the set it replaces.</summary>
    public PluginSet? Set(PluginSet plugins) => Interlocked.Exchange(ref _current, plugins);
}
