using NRules;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// One compiled, loaded generation of a rules folder: its session factory and what it holds.
/// Thread-safe for creating sessions. <see cref="Unload"/> starts unloading its collectible load
/// context: sessions still running finish, and the assemblies go once nothing references them.
/// </summary>
internal sealed class RuleSetGeneration
{
    private readonly Dictionary<string, CompiledRule> _byName;
    private RuleLoadContext? _loadContext;

    public RuleSetGeneration(
        ISessionFactory sessionFactory,
        IReadOnlyList<CompiledRule> rules,
        IReadOnlyList<RuleDiagnostic> warnings,
        string contentHash,
        RuleLoadContext loadContext)
    {
        SessionFactory = sessionFactory;
        Rules = rules;
        _byName = rules.ToDictionary(r => r.Name, StringComparer.Ordinal);
        Warnings = warnings;
        ContentHash = contentHash;
        _loadContext = loadContext;
    }

    public ISessionFactory SessionFactory { get; }

    public IReadOnlyList<CompiledRule> Rules { get; }

    /// <summary>The rule named <paramref name="name"/>, or <c>null</c>.</summary>
    public CompiledRule? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>What the rules were checked against (<see cref="RuleChecks.Key"/>).</summary>
    public string ChecksKey { get; init; } = RuleChecks.None.Key;

    /// <summary>How the paths of the rules folder's files are shown (as the folder was named).</summary>
    public RulePaths Paths { get; init; } = RulePaths.AsTheyAre;

    /// <summary>Non-fatal diagnostics of the compile (compiler warnings).</summary>
    public IReadOnlyList<RuleDiagnostic> Warnings { get; }

    /// <summary>Rule files taken from the compile cache instead of the compiler.</summary>
    public int CacheHits { get; init; }

    /// <summary>SHA-256 over the rule files' names and contents, hex.</summary>
    public string ContentHash { get; }

    /// <summary>Starts unloading the generation's assemblies; they go once the last session using them is gone.</summary>
    public WeakReference Unload()
    {
        var context = _loadContext ?? throw new InvalidOperationException("The generation is already unloaded.");
        _loadContext = null;
        var weak = new WeakReference(context);
        context.Unload();
        return weak;
    }
}
