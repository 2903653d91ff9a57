using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;

namespace FreeScoutRules.Engine.Plugins;

/// <summary>
/// C#-script actions: every <c>*.csx</c> directly in a plugins folder is compiled with Roslyn
/// scripting (never run) into a collectible load context of its own, and each public
/// <see cref="IActionHandler"/> class in it with a parameterless constructor becomes an action.
/// A script that does not compile is reported like a compiler would, and the others load.
/// </summary>
internal static class ActionScriptCompiler
{
    public static void LoadFolder(
        string directory, Dictionary<string, IActionHandler> handlers, List<PluginProblem> problems, List<PluginLoadContext> contexts)
    {
        var scripts = Directory.GetFiles(directory, "*.csx");
        Array.Sort(scripts, StringComparer.Ordinal);
        foreach (var script in scripts)
        {
            string code;
            try
            {
                code = File.ReadAllText(script, Encoding.UTF8);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Half copied, replaced or removed under us: the next change to the folder loads it again.
                problems.Add(new PluginProblem(script, $"cannot be read ({ex.GetType().Name}: {ex.Message}); it is loaded again at the next change to the plugins folder."));
                continue;
            }

            var compilation = CSharpScript.Create(code, ScriptCompilationOptions.ForAction(script))
                .GetCompilation().WithAssemblyName($"action.{Path.GetFileNameWithoutExtension(script)}.{Guid.NewGuid():N}");
            using var image = new MemoryStream();
            var result = compilation.Emit(image);
            if (!result.Success)
            {
                problems.AddRange(result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)
                    .Select(d => new PluginProblem(script, d.ToString().Replace(script, "", StringComparison.Ordinal).TrimStart(':', ' '))));
                continue;
            }

            var context = new PluginLoadContext(script);
            image.Position = 0;
            var found = 0;
            try
            {
                var assembly = context.LoadFromStream(image);
                foreach (var type in assembly.GetTypes().Where(t => typeof(IActionHandler).IsAssignableFrom(t)
                    && t is { IsAbstract: false } && (t.IsPublic || t.IsNestedPublic) && t.GetConstructor(Type.EmptyTypes) is not null))
                {
                    var handler = (IActionHandler)Activator.CreateInstance(type)!;
                    if (handlers.TryAdd(handler.Name, handler))
                    {
                        found++;
                    }
                    else
                    {
                        problems.Add(new PluginProblem(script, $"the action '{handler.Name}' is already provided by another plugin; this one is ignored."));
                    }
                }
            }
            catch (System.Reflection.TargetInvocationException ex)
            {
                problems.Add(new PluginProblem(script, $"its constructor threw {ex.InnerException?.GetType().Name}: {ex.InnerException?.Message}"));
            }

            if (found > 0)
            {
                contexts.Add(context);
            }
            else
            {
                if (problems.All(p => p.Path != script))
                {
                    problems.Add(new PluginProblem(script, "no public IActionHandler class with a parameterless constructor in it."));
                }

                context.Unload();
            }
        }
    }
}
