namespace FreeScoutRules.Engine.Rules;

/// <summary>A rule set could not be built; <see cref="Diagnostics"/> lists every reason, one per line in <see cref="Exception.Message"/>.</summary>
internal sealed class RuleCompilationException : Exception
{
    public RuleCompilationException(IReadOnlyList<RuleDiagnostic> diagnostics)
        : base(string.Join(Environment.NewLine, diagnostics))
    {
        Diagnostics = diagnostics;
    }

    public IReadOnlyList<RuleDiagnostic> Diagnostics { get; }
}
