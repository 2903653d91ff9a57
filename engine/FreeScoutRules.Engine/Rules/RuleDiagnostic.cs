namespace FreeScoutRules.Engine.Rules;

/// <summary>Severity of a <see cref="RuleDiagnostic"/>, spelled as compilers spell it.</summary>
internal enum RuleDiagnosticSeverity
{
    Warning,
    Error,
}

/// <summary>
/// One problem found in a rule file, printed like a compiler does:
/// <c>rules/close.csx(12,9): error CS0103: The name 'x' does not exist in the current context</c>.
/// </summary>
internal sealed record RuleDiagnostic(
    string File, int Line, int Column, RuleDiagnosticSeverity Severity, string Id, string Message)
{
    public bool IsError => Severity == RuleDiagnosticSeverity.Error;

    public override string ToString() =>
        $"{File}({Line},{Column}): {(IsError ? "error" : "warning")} {Id}: {Message}";

    /// <summary>A problem of the engine's own (not the C# compiler's), reported at a file's start.</summary>
    public static RuleDiagnostic Error(string file, string id, string message, int line = 1, int column = 1) =>
        new(file, line, column, RuleDiagnosticSeverity.Error, id, message);

    /// <summary>A warning of the engine's own, reported at a file's (or folder's) start.</summary>
    public static RuleDiagnostic Warning(string file, string id, string message) =>
        new(file, 1, 1, RuleDiagnosticSeverity.Warning, id, message);
}
