using System.Reflection;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>The sample plugin project's build output (built by the solution, not referenced).</summary>
internal static class SamplePlugin
{
    public static string BuildDirectory => Path.GetFullPath(typeof(SamplePlugin).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SamplePluginDirectory").Value!);

    /// <summary>Copies the plugin into <paramref name="pluginsDirectory"/> as a plugin folder.</summary>
    public static void DropInto(string pluginsDirectory)
    {
        var target = Directory.CreateDirectory(Path.Combine(pluginsDirectory, "FreeScoutRules.Plugins.Sample")).FullName;
        foreach (var file in Directory.GetFiles(BuildDirectory))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
        }
    }
}
