using System.Reflection;
using System.Runtime.Loader;

namespace FreeScoutRules.Engine.Plugins;

/// <summary>
/// A collectible load context for one plugin: its own dependencies come from its folder (through its
/// .deps.json), while the abstractions, their dependencies and the framework are shared with the host,
/// so that <c>IActionHandler</c> is one type for both. Assemblies are read into memory, so a plugin's
/// files can be replaced or deleted while it is loaded.
/// </summary>
internal sealed class PluginLoadContext(string mainAssemblyPath)
    : AssemblyLoadContext($"plugin-{Path.GetFileNameWithoutExtension(mainAssemblyPath)}", isCollectible: true)
{
    private static readonly string[] SharedPrefixes =
    [
        "FreeScoutRules.Abstractions", "NRules", "FluentValidation", "Microsoft.Extensions.", "Microsoft.AspNetCore.",
        "System.", "Microsoft.Win32.", "netstandard", "mscorlib",
    ];

    private readonly AssemblyDependencyResolver _resolver = new(mainAssemblyPath);

    public Assembly LoadMain() => LoadFromBytes(mainAssemblyPath);

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var name = assemblyName.Name ?? "";
        if (SharedPrefixes.Any(prefix => name.Equals(prefix, StringComparison.Ordinal) || name.StartsWith(prefix, StringComparison.Ordinal)))
        {
            return null;
        }

        return _resolver.ResolveAssemblyToPath(assemblyName) is { } path ? LoadFromBytes(path) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) =>
        _resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;

    private Assembly LoadFromBytes(string path)
    {
        using var stream = new MemoryStream(File.ReadAllBytes(path), writable: false);
        return LoadFromStream(stream);
    }
}
