using System.Diagnostics;

namespace FreeScoutRules.Engine.Rules;

/// <summary>A line of a rule file's own code that an exception passed through, with the class it belongs to.</summary>
/// <param name="File">The rule file or <c>#load</c>ed helper (from the image's embedded PDB); <c>null</c> when unknown.</param>
/// <param name="Line">1-based; 0 when unknown.</param>
/// <param name="Column">1-based; 0 when unknown.</param>
/// <param name="Where">The class and method, as the author wrote them (<c>SendSurvey.Define</c>; a lambda of a class is the class).</param>
internal sealed record RuleFrame(string? File, int Line, int Column, string Where)
{
    public override string ToString() => File is not null && Line > 0 ? $"{File}({Line},{Column}) in {Where}" : Where;
}

/// <summary>Finds where in a rule file's own code an exception was thrown (or passed through): for failures and load errors.</summary>
internal static class RuleFrames
{
    /// <summary>The innermost frame of code of a rule file (a rule's lambda, a helper method), or <c>null</c>.</summary>
    public static RuleFrame? FirstOf(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        foreach (var frame in new StackTrace(exception, fNeedFileInfo: true).GetFrames())
        {
            var method = frame.GetMethod();
            if (method?.DeclaringType is { } type && type.Assembly.GetName().Name?.StartsWith(RuleSetCompiler.AssemblyPrefix, StringComparison.Ordinal) == true)
            {
                var file = frame.GetFileName() is { Length: > 0 } path && frame.GetFileLineNumber() > 0 ? path : null;
                return new RuleFrame(file, frame.GetFileLineNumber(), frame.GetFileColumnNumber(), Readable(type, method.Name));
            }
        }

        return null;
    }

    /// <summary>
    /// <c>Class.Method</c> as the author wrote them: the compiler's classes of lambdas (<c>&lt;&gt;c</c>,
    /// <c>&lt;&gt;c__DisplayClass0_0</c>) are their enclosing class, and a lambda (<c>&lt;Define&gt;b__0_0</c>,
    /// <c>&lt;.ctor&gt;b__0_1</c>) is a lambda in its method (a constructor is the class's declaration).
    /// </summary>
    private static string Readable(Type type, string method)
    {
        while (type.Name.StartsWith('<') && type.DeclaringType is { } outer)
        {
            type = outer;
        }

        if (method.StartsWith('<') && method.IndexOf('>', StringComparison.Ordinal) is > 1 and var end)
        {
            var enclosing = method[1..end];
            return enclosing is ".ctor" or ".cctor" ? $"a lambda of {type.Name}" : $"a lambda in {type.Name}.{enclosing}";
        }

        return method is ".ctor" or ".cctor" ? $"{type.Name}'s declaration" : $"{type.Name}.{method}";
    }
}
