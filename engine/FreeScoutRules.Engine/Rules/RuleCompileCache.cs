using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// Compiled rule files on disk, so a restart with unchanged rules, or a reload that changed one file,
/// does not run the compiler for the others. An entry's key is a hash of the file's path and source,
/// every helper script of the folder, and the exact engine, abstractions, NRules and Roslyn builds;
/// its content is a SHA-256 of the rest, the length of what the file's compile found, that (JSON: its warnings
/// and its timer names) and the image, checked on every read (a damaged entry is a miss). A file served from
/// the cache reports the warnings it compiled with, and its timer names for the checks across files. Thread-safe for distinct keys; writes are atomic (temporary file, then rename).
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

    /// <summary>The cached image, the warnings its file compiled with and its timer names, or <c>null</c>.</summary>
    public (byte[] Image, IReadOnlyList<RuleDiagnostic> Warnings, TimerNameUses Timers)? TryGet(string key)
    {
        var path = PathOf(key);
        try
        {
            var content = File.ReadAllBytes(path);
            const int header = SHA256.HashSizeInBytes + sizeof(int);
            if (content.Length > header
                && SHA256.HashData(content.AsSpan(SHA256.HashSizeInBytes)).AsSpan().SequenceEqual(content.AsSpan(0, SHA256.HashSizeInBytes))
                && BitConverter.ToInt32(content, SHA256.HashSizeInBytes) is var length && length >= 0 && header + length < content.Length
                && System.Text.Json.JsonSerializer.Deserialize(content.AsSpan(header, length), RulesJsonContext.Default.CachedCompile)
                    is { Warnings: not null, Timers: not null } found)
            {
                return (content[(header + length)..], found.Warnings, found.Timers);
            }

            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
        }

        return null;
    }

    public void Put(string key, byte[] image, IReadOnlyList<RuleDiagnostic> warnings, TimerNameUses timers)
    {
        try
        {
            Storage.PrivateFiles.CreateDirectory(Directory);
            var temporary = PathOf(key) + $".{Environment.ProcessId}.tmp";
            var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new CachedCompile([.. warnings], timers), RulesJsonContext.Default.CachedCompile);
            var rest = new byte[sizeof(int) + json.Length + image.Length];
            BitConverter.TryWriteBytes(rest, json.Length);
            json.CopyTo(rest, sizeof(int));
            image.CopyTo(rest, sizeof(int) + json.Length);
            using (var file = new FileStream(temporary, Storage.PrivateFiles.Options(FileMode.Create)))
            {
                file.Write(SHA256.HashData(rest));
                file.Write(rest);
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

/// <summary>What a cache entry keeps of its file's compile besides the image.</summary>
internal sealed record CachedCompile(List<RuleDiagnostic> Warnings, TimerNameUses Timers);

[System.Text.Json.Serialization.JsonSerializable(typeof(CachedCompile))]
internal sealed partial class RulesJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
