using System.Reflection;
using FreeScoutRules.Actions;

namespace FreeScoutRules.Engine.Plugins;

/// <summary>
/// Loads the action plugins of a folder. A plugin is a DLL directly in the folder, a subfolder
/// holding <c>&lt;name&gt;/&lt;name&gt;.dll</c> with its dependencies (what <c>dotnet publish</c>
/// writes), or a C# script <c>*.csx</c> (<see cref="ActionScriptCompiler"/>). Each loads in its own <see cref="PluginLoadContext"/>; every public non-abstract
/// <see cref="IActionHandler"/> with a parameterless constructor in it becomes an action. A broken or
/// incompatible plugin is reported with its path and reason and stops neither the others nor the host.
/// Stateless and thread-safe.
/// </summary>
internal static class PluginLoader
{
    /// <summary>The built-in plugins shipped next to the host (<c>builtin-plugins/</c>).</summary>
    public static string BuiltInDirectory => Path.Combine(AppContext.BaseDirectory, "builtin-plugins");

    /// <summary>Loads the plugins of each folder in turn; an action name already taken by an earlier folder is reported, not replaced.</summary>
    public static PluginSet Load(params string[] pluginsDirectories)
    {
        ArgumentNullException.ThrowIfNull(pluginsDirectories);
        var handlers = new Dictionary<string, IActionHandler>(StringComparer.Ordinal);
        var problems = new List<PluginProblem>();
        var contexts = new List<PluginLoadContext>();
        foreach (var directory in pluginsDirectories.Where(Directory.Exists))
        {
            LoadFolder(directory, handlers, problems, contexts);
            ActionScriptCompiler.LoadFolder(directory, handlers, problems, contexts);
        }

        return new PluginSet(handlers, problems, contexts);
    }

    private static void LoadFolder(
        string pluginsDirectory, Dictionary<string, IActionHandler> handlers, List<PluginProblem> problems, List<PluginLoadContext> contexts)
    {
        foreach (var path in Candidates(pluginsDirectory, problems))
        {
            var context = new PluginLoadContext(path);
            var found = 0;
            try
            {
                var assembly = context.LoadMain();
                foreach (var type in HandlerTypes(assembly))
                {
                    var handler = (IActionHandler)Activator.CreateInstance(type)!;
                    if (string.IsNullOrWhiteSpace(handler.Name))
                    {
                        problems.Add(new PluginProblem(path, $"{type.FullName} has no action name."));
                    }
                    else if (!handlers.TryAdd(handler.Name, handler))
                    {
                        problems.Add(new PluginProblem(path, $"the action '{handler.Name}' ({type.FullName}) is already provided by another plugin; this one is ignored."));
                    }
                    else
                    {
                        found++;
                    }
                }

                if (found == 0 && problems.All(p => p.Path != path))
                {
                    problems.Add(new PluginProblem(path, "no public IActionHandler with a parameterless constructor in it."));
                }
            }
            catch (Exception ex) when (ex is BadImageFormatException or FileLoadException or FileNotFoundException
                or ReflectionTypeLoadException or TypeLoadException or MissingMethodException or TargetInvocationException)
            {
                problems.Add(new PluginProblem(path, Describe(ex)));
            }

            if (found > 0)
            {
                contexts.Add(context);
            }
            else
            {
                context.Unload();
            }
        }
    }

    private static List<string> Candidates(string directory, List<PluginProblem> problems)
    {
        var candidates = Directory.GetFiles(directory, "*.dll").ToList();
        foreach (var folder in Directory.GetDirectories(directory))
        {
            var main = Path.Combine(folder, Path.GetFileName(folder) + ".dll");
            if (File.Exists(main))
            {
                candidates.Add(main);
            }
            else if (Directory.GetFiles(folder, "*.dll").Length > 0)
            {
                problems.Add(new PluginProblem(folder, $"a plugin folder must hold {Path.GetFileName(folder)}.dll (the plugin named after its folder)."));
            }
        }

        candidates.Sort(StringComparer.Ordinal);
        return candidates;
    }

    private static IEnumerable<Type> HandlerTypes(Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => typeof(IActionHandler).IsAssignableFrom(t) && t is { IsAbstract: false, IsPublic: true } && t.GetConstructor(Type.EmptyTypes) is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal);

    private static string Describe(Exception ex) => ex switch
    {
        BadImageFormatException => "not a .NET assembly (or built for another platform).",
        ReflectionTypeLoadException load => $"built against something this host lacks: {string.Join("; ", load.LoaderExceptions.Select(e => e?.Message).Distinct().Take(3))}",
        TargetInvocationException { InnerException: { } inner } => $"its constructor threw {inner.GetType().Name}: {inner.Message}",
        _ => $"{ex.GetType().Name}: {ex.Message}",
    };
}
