using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;

namespace FreeScoutRules.Engine.Tests.Rules;

public sealed class RuleCompileCacheTests : IDisposable
{
    private const string RuleTemplate = """
        public class Rule_NAME : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.By != null && c.By.FirstName == "NAME");
                Then().Do(ctx => ctx.Enqueue("x"));
            }
        }
        """;

    private readonly TempDirectory _rules = new();
    private readonly TempDirectory _cacheRoot = new();

    public RuleCompileCacheTests()
    {
        File.Copy(Path.Combine(Fixtures.RulesDirectory, "status-change.csx"), Path.Combine(_rules.Path, "status-change.csx"));
        foreach (var name in new[] { "a", "b", "c" })
        {
            _rules.Write($"{name}.csx", RuleTemplate.Replace("NAME", name, StringComparison.Ordinal));
        }
    }

    private RuleCompileCache Cache => new(Path.Combine(_cacheRoot.Path, "rules-cache"));

    public void Dispose()
    {
        _rules.Dispose();
        _cacheRoot.Dispose();
    }

    [Fact]
    public void Compile_Unchanged_TakesEveryFileFromTheCache()
    {
        var first = RuleSetCompiler.Compile(_rules.Path, Cache);
        var second = RuleSetCompiler.Compile(_rules.Path, Cache);

        Assert.Equal(0, first.CacheHits);
        Assert.Equal(4, second.CacheHits);
        Assert.Equal(first.Rules.Select(r => r.Name), second.Rules.Select(r => r.Name));
        Assert.Equal(4, Directory.GetFiles(Cache.Directory, "*.rules").Length);
    }

    [Fact]
    public void Compile_OneFileChanged_RecompilesOnlyIt_AndDropsItsOldEntry()
    {
        RuleSetCompiler.Compile(_rules.Path, Cache);
        _rules.Write("b.csx", RuleTemplate.Replace("NAME", "b2", StringComparison.Ordinal));

        var generation = RuleSetCompiler.Compile(_rules.Path, Cache);

        Assert.Equal(3, generation.CacheHits);
        Assert.Contains(generation.Rules, r => r.Name == "Rule_b2");
        Assert.Equal(4, Directory.GetFiles(Cache.Directory, "*.rules").Length);
    }

    [Fact]
    public void Compile_HelperChanged_RecompilesEverything()
    {
        _rules.Write("lib/h.csx", "static int One() => 1;\n");
        RuleSetCompiler.Compile(_rules.Path, Cache);
        _rules.Write("lib/h.csx", "static int One() => 2;\n");

        Assert.Equal(0, RuleSetCompiler.Compile(_rules.Path, Cache).CacheHits);
    }

    [Fact]
    public void Compile_DamagedEntry_IsAMissNotACrash()
    {
        RuleSetCompiler.Compile(_rules.Path, Cache);
        foreach (var entry in Directory.GetFiles(Cache.Directory, "*.rules"))
        {
            var bytes = File.ReadAllBytes(entry);
            bytes[^1] ^= 0xFF;
            File.WriteAllBytes(entry, bytes);
        }

        var generation = RuleSetCompiler.Compile(_rules.Path, Cache);

        Assert.Equal(0, generation.CacheHits);
        Assert.Equal(7, generation.Rules.Count);
    }

    [Fact]
    public void Compile_FileWithAnError_IsNeverCached()
    {
        _rules.Write("broken.csx", "int x = \"no\";\n");

        Assert.Throws<RuleCompilationException>(() => RuleSetCompiler.Compile(_rules.Path, Cache));
        var ex = Assert.Throws<RuleCompilationException>(() => RuleSetCompiler.Compile(_rules.Path, Cache));

        Assert.Contains(ex.Diagnostics, d => d.Id == "CS0029");
    }

    [Fact]
    public void Compile_FileWithAWarning_IsCached_AndServedWithItsWarning()
    {
        _rules.Write("warned.csx", RuleTemplate.Replace("NAME", "w", StringComparison.Ordinal)
            .Replace("c.By != null && c.By.FirstName == \"w\"", "c.To == \"clossed\"", StringComparison.Ordinal));

        var cold = RuleSetCompiler.Compile(_rules.Path, Cache);
        var warm = RuleSetCompiler.Compile(_rules.Path, Cache);

        Assert.Equal(5, warm.CacheHits);
        var warning = Assert.Single(warm.Warnings);
        Assert.Equal(Assert.Single(cold.Warnings), warning);
        Assert.Equal("FSR0002", warning.Id);
        Assert.EndsWith("warned.csx", warning.File, StringComparison.Ordinal);
    }
}
