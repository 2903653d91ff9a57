using System.Reflection;
using System.Runtime.Loader;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// A collectible load context for one generation of compiled rule files. It loads nothing by name
/// itself, so the abstractions, NRules and the framework resolve to the host's copies (one type
/// identity), and the whole generation unloads once nothing references it.
/// </summary>
internal sealed class RuleLoadContext(string name) : AssemblyLoadContext(name, isCollectible: true)
{
    protected override Assembly? Load(AssemblyName assemblyName) => null;
}
