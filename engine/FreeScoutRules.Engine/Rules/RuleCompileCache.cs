using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// Compiled rule files on disk, so a restart with unchanged rules, or a reload that changed one file,
/// does not run the compiler for the others. An entry's key is a hash of the file's path and source,
/// every helper script of the folder, and the exact engine, abstractions, NRules and Roslyn builds;
/// its content is a SHA-256 of the image followed by the image, checked on every read (a damaged
/// entry is a miss). Only files that compile without warnings are cached, so warnings are always
/// reported. Thread-safe for distinct keys; writes are atomic (temporary file, then rename).
/// </summary>
internal sealed class RuleCompileCache(string directory)
{
    private static readonly string BuildKey = string.Join("|",
        new[] { typeof(RuleCompileCache), typeof(Facts.Delivery), typeof(NRules.Fluent.Dsl.Rule), typeof(CSharpCompilation) }
            .Select(t => t.Assembly.ManifestModule.ModuleVersionId.ToString("N"))
            .Append(Environment.Version.ToString()));

    public string Directory { get; } = directory;

    public static string KeyOf(string relativePath, string code, string helpersHash) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{BuildKey}\n{helpersHash}\n{relativePath}\n{code}")));

    public byte[]? TryGet(string key)
    {
        var path = PathOf(key);
        try
        {
            var content = File.ReadAllBytes(path);
            if (content.Length > SHA256.HashSizeInBytes
                && SHA256.HashData(content.AsSpan(SHA256.HashSizeInBytes)).AsSpan().SequenceEqual(content.AsSpan(0, SHA256.HashSizeInBytes)))
            {
                return content[SHA256.HashSizeInBytes..];
            }

            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    public void Put(string key, byte[] image)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            var temporary = PathOf(key) + $".{Environment.ProcessId}.tmp";
            using (var file = File.Create(temporary))
            {
                file.Write(SHA256.HashData(image));
                file.Write(image);
            }

            File.Move(temporary, PathOf(key), overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A cache that cannot be written costs a compile next time, nothing more.
        }
    }

    /// <summary>Deletes every entry but <paramref name="keys"/>: the cache holds the generation in force.</summary>
    public void Retain(IReadOnlySet<string> keys)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return;
        }

        foreach (var file in System.IO.Directory.GetFiles(Directory, "*.rules"))
        {
            if (!keys.Contains(Path.GetFileNameWithoutExtension(file)))
            {
                try
                {
                    File.Delete(file);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private string PathOf(string key) => Path.Combine(Directory, key + ".rules");
}
