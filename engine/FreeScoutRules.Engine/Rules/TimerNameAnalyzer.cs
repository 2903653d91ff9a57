using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Facts;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace FreeScoutRules.Engine.Rules;

/// <summary>A constant timer name, or a family of names (a prefix), where a rule file uses it.</summary>
/// <param name="Name">The name, or the prefix when <paramref name="Prefix"/>.</param>
/// <param name="Prefix">True for <c>t.Name.StartsWith("reminder-")</c>: every name that starts with it.</param>
/// <param name="IgnoreCase">True when compared ignoring case (<c>StringComparison.OrdinalIgnoreCase</c>, or a comparison that is not constant).</param>
/// <param name="File">Where: the file, as diagnostics name it.</param>
/// <param name="Line">1-based.</param>
/// <param name="Column">1-based.</param>
internal sealed record TimerName(string Name, bool Prefix, bool IgnoreCase, string File, int Line, int Column)
{
    /// <summary>True when the timer named <paramref name="name"/> is this name or of this family.</summary>
    public bool Matches(string name) =>
        Prefix ? name.StartsWith(Name, Comparison()) : string.Equals(name, Name, Comparison());

    /// <summary>True when some name starting with <paramref name="prefix"/> may be this name or of this family.</summary>
    public bool MayMatchSomeNameStartingWith(string prefix) =>
        Name.StartsWith(prefix, Comparison()) || (Prefix && prefix.StartsWith(Name, Comparison()));

    private StringComparison Comparison() => IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
}

/// <summary>
/// What one rule file (its <c>#load</c>ed helpers included) does with timer names, as
/// <see cref="TimerNameCollector"/> found it; kept in the compile cache with the file's image, since
/// FSR0009 and FSR0010 are decided over every file of a generation. Immutable.
/// </summary>
/// <param name="Scheduled">Constant names passed to <c>ctx.Schedule</c>.</param>
/// <param name="DynamicScheduled">
/// The known start of every name passed to <c>ctx.Schedule</c> that is not constant (<c>"reminder-"</c> for
/// <c>$"reminder-{hours}h"</c>; <c>""</c> when nothing of it is known).
/// </param>
/// <param name="Cancelled">Constant names passed to <c>ctx.CancelTimer</c>.</param>
/// <param name="Tested">Every comparison of <c>TimerElapsed.Name</c> with a constant, anywhere in the file.</param>
/// <param name="Handled">The names (or families) the file's <c>TimerElapsed</c> patterns are restricted to.</param>
/// <param name="HandlesAnyName">True when a pattern matches <c>TimerElapsed</c> without a recognised test of its name.</param>
internal sealed record TimerNameUses(
    IReadOnlyList<TimerName> Scheduled,
    IReadOnlyList<string> DynamicScheduled,
    IReadOnlyList<TimerName> Cancelled,
    IReadOnlyList<TimerName> Tested,
    IReadOnlyList<TimerName> Handled,
    bool HandlesAnyName)
{
    public static TimerNameUses None { get; } = new([], [], [], [], [], false);
}

/// <summary>
/// FSR0009 and FSR0010, decided across every file of a rule set from what each file does with timer
/// names (<see cref="TimerNameUses"/>). Conservative: when names are computed, it says nothing it cannot
/// be sure of (docs/writing-rules.md, "Errors"). Stateless.
/// </summary>
internal static class TimerNameAnalyzer
{
    public static List<RuleDiagnostic> Check(IReadOnlyList<TimerNameUses> files, RuleDiagnosticSeverities severities)
    {
        var found = new List<RuleDiagnostic>();
        var scheduled = files.SelectMany(f => f.Scheduled).ToList();
        var dynamicPrefixes = files.SelectMany(f => f.DynamicScheduled).Distinct(StringComparer.Ordinal).ToList();
        var handled = files.SelectMany(f => f.Handled).ToList();
        if (severities.Of(EngineDiagnosticIds.TimerNotHandled) is { } notHandled && !files.Any(f => f.HandlesAnyName))
        {
            foreach (var timer in scheduled.Where(s => !handled.Any(h => h.Matches(s.Name))))
            {
                found.Add(new RuleDiagnostic(timer.File, timer.Line, timer.Column, notHandled, EngineDiagnosticIds.TimerNotHandled,
                    $"timer '{timer.Name}' is scheduled but no rule handles it (On.Timer(\"{timer.Name}\") in a concise rule, or a rule matching TimerElapsed with Name == \"{timer.Name}\"); it would fire and do nothing"));
            }
        }

        if (severities.Of(EngineDiagnosticIds.TimerNotScheduled) is { } notScheduled)
        {
            string[] names = [.. scheduled.Select(s => s.Name).Distinct(StringComparer.Ordinal)];
            bool MayBeScheduled(TimerName name) =>
                scheduled.Any(s => name.Matches(s.Name)) || dynamicPrefixes.Any(name.MayMatchSomeNameStartingWith);

            foreach (var test in files.SelectMany(f => f.Tested).Where(t => !MayBeScheduled(t)))
            {
                found.Add(new RuleDiagnostic(test.File, test.Line, test.Column, notScheduled, EngineDiagnosticIds.TimerNotScheduled,
                    test.Prefix
                        ? $"timers whose name starts with '{test.Name}' are tested but no rule schedules one (only timers already pending under such a name could match)"
                        : $"timer '{test.Name}' is tested but no rule schedules it (only timers already pending under that name could match){RuleFileAnalyzer.Suggest(test.Name, names)}"));
            }

            foreach (var cancel in files.SelectMany(f => f.Cancelled).Where(c => !MayBeScheduled(c)))
            {
                found.Add(new RuleDiagnostic(cancel.File, cancel.Line, cancel.Column, notScheduled, EngineDiagnosticIds.TimerNotScheduled,
                    $"timer '{cancel.Name}' is cancelled but no rule schedules it (the cancel only finds timers already pending under that name){RuleFileAnalyzer.Suggest(cancel.Name, names)}"));
            }
        }

        // A #load helper shared by two rule files is seen by both compilations: report it once.
        return [.. found.Distinct()];
    }
}

/// <summary>
/// Collects what a rule file does with timer names (<see cref="TimerNameUses"/>) while
/// <see cref="RuleFileAnalyzer"/> walks its syntax trees: the first argument of
/// <c>RuleContextExtensions.Schedule</c> (every overload) and <c>CancelTimer</c>, the comparisons of
/// <c>TimerElapsed.Name</c> with constants (<c>==</c>, <c>!=</c>, <c>is</c> patterns, <c>string.Equals</c>,
/// <c>StartsWith</c>, <c>switch</c> cases), and the names each <c>Match</c>/<c>Exists</c> of
/// <c>TimerElapsed</c> is restricted to. One per compilation; not thread-safe.
/// </summary>
internal sealed class TimerNameCollector
{
    /// <summary>How deep conditions are followed into the file's own methods (<c>t => IsAutoClose(t)</c>).</summary>
    private const int MaxCallDepth = 3;

    private readonly INamedTypeSymbol? _elapsed;
    private readonly INamedTypeSymbol? _extensions;
    private readonly List<TimerName> _scheduled = [];
    private readonly List<string> _dynamicScheduled = [];
    private readonly List<TimerName> _cancelled = [];
    private readonly List<TimerName> _tested = [];
    private readonly List<TimerName> _handled = [];
    private bool _handlesAnyName;

    public TimerNameCollector(Compilation compilation)
    {
        _elapsed = compilation.GetTypeByMetadataName(typeof(TimerElapsed).FullName!);
        _extensions = compilation.GetTypeByMetadataName(typeof(RuleContextExtensions).FullName!);
    }

    public TimerNameUses Uses => new([.. _scheduled], [.. _dynamicScheduled], [.. _cancelled], [.. _tested], [.. _handled], _handlesAnyName);

    /// <summary>Looks at one node of a syntax tree of the compilation; <paramref name="model"/> is the tree's.</summary>
    public void Visit(SemanticModel model, SyntaxNode node)
    {
        if (_elapsed is null || _extensions is null)
        {
            return;
        }

        switch (node)
        {
            case BinaryExpressionSyntax { RawKind: (int)SyntaxKind.EqualsExpression or (int)SyntaxKind.NotEqualsExpression } binary:
                AddIfNotNull(_tested, Comparison(model, binary.Left, binary.Right) ?? Comparison(model, binary.Right, binary.Left));
                break;
            case IsPatternExpressionSyntax pattern when IsName(model, pattern.Expression):
                AddConstants(model, pattern.Pattern);
                break;
            case SubpatternSyntax subpattern when IsName(model, (ExpressionSyntax?)subpattern.NameColon?.Name ?? subpattern.ExpressionColon?.Expression):
                AddConstants(model, subpattern.Pattern);
                break;
            case SwitchExpressionSyntax switchExpression when IsName(model, switchExpression.GoverningExpression):
                foreach (var arm in switchExpression.Arms)
                {
                    AddConstants(model, arm.Pattern);
                }

                break;
            case SwitchStatementSyntax switchStatement when IsName(model, switchStatement.Expression):
                foreach (var label in switchStatement.Sections.SelectMany(s => s.Labels))
                {
                    if (label is CaseSwitchLabelSyntax constant)
                    {
                        AddIfNotNull(_tested, Constant(model, constant.Value, prefix: false, ignoreCase: false));
                    }
                    else if (label is CasePatternSwitchLabelSyntax patternLabel)
                    {
                        AddConstants(model, patternLabel.Pattern);
                    }
                }

                break;
            case InvocationExpressionSyntax invocation when model.GetSymbolInfo(invocation).Symbol is IMethodSymbol method:
                if (SymbolEqualityComparer.Default.Equals(method.ContainingType, _extensions) && method.Name is "Schedule" or "CancelTimer")
                {
                    AddScheduling(model, invocation, method);
                }
                else if (method.ContainingNamespace?.ToDisplayString() == ConciseCalls.Namespace)
                {
                    AddConcise(model, invocation);
                }
                else if (method.Name is "Match" or "Exists" && method.TypeArguments.Length == 1
                    && method.ContainingNamespace?.ToDisplayString() == "NRules.Fluent.Dsl")
                {
                    AddPattern(model, invocation, method.TypeArguments[0]);
                }
                else
                {
                    AddIfNotNull(_tested, StringTest(model, invocation, method));
                }

                break;
        }
    }

    private void AddScheduling(SemanticModel model, InvocationExpressionSyntax invocation, IMethodSymbol method)
    {
        var parameter = method.Parameters.FirstOrDefault(p => p.Name == "name")
            ?? method.Parameters.FirstOrDefault(p => p.Type.SpecialType == SpecialType.System_String);
        if (parameter is null || ArgumentFor(method, invocation.ArgumentList, parameter) is not { } argument)
        {
            return;
        }

        var cancels = method.Name == "CancelTimer";
        if (Constant(model, argument, prefix: false, ignoreCase: false) is { } name)
        {
            (cancels ? _cancelled : _scheduled).Add(name);
        }
        else if (!cancels)
        {
            _dynamicScheduled.Add(KnownStart(model, argument));
        }
    }

    /// <summary>
    /// A concise rule's <c>.Schedule(name, …)</c>, <c>.Cancel(names)</c> and <c>On.Timer(names)</c>: scheduled, cancelled,
    /// and handled (each name also tested). A name <c>On.Timer</c> is given that is not constant may be any name.
    /// </summary>
    private void AddConcise(SemanticModel model, InvocationExpressionSyntax invocation)
    {
        foreach (var (kind, value) in ConciseCalls.Arguments(model, invocation))
        {
            var name = Constant(model, value, prefix: false, ignoreCase: false);
            if (name is { Name.Length: 0 })
            {
                continue; // no timer: the declaration throws at load (FSR0101 says so), not a name to compare
            }

            switch (kind)
            {
                case ConciseArgument.TimerScheduled when name is not null:
                    _scheduled.Add(name);
                    break;
                case ConciseArgument.TimerScheduled:
                    _dynamicScheduled.Add(KnownStart(model, value));
                    break;
                case ConciseArgument.TimerCancelled:
                    AddIfNotNull(_cancelled, name);
                    break;
                case ConciseArgument.TimerHandled when name is not null:
                    _handled.Add(name);
                    _tested.Add(name);
                    break;
                case ConciseArgument.TimerHandled:
                    _handlesAnyName = true;
                    break;
            }
        }
    }

    /// <summary>A <c>Match</c> or <c>Exists</c> pattern: the names its conditions restrict it to, else any name.</summary>
    private void AddPattern(SemanticModel model, InvocationExpressionSyntax invocation, ITypeSymbol fact)
    {
        if (!SymbolEqualityComparer.Default.Equals(fact, _elapsed))
        {
            // Match<object>() or a generic helper's Match<T>() may match timers too: any name.
            _handlesAnyName |= fact is ITypeParameterSymbol || fact.SpecialType == SpecialType.System_Object;
            return;
        }

        List<TimerName>? restriction = null;
        foreach (var argument in invocation.ArgumentList.Arguments)
        {
            if (argument.Expression is LambdaExpressionSyntax { ExpressionBody: { } body } lambda
                && lambda is SimpleLambdaExpressionSyntax or ParenthesizedLambdaExpressionSyntax { ParameterList.Parameters.Count: 1 }
                && Restriction(model, body, 0) is { } names)
            {
                // Conditions are and-ed: each one that restricts the name bounds the pattern.
                (restriction ??= []).AddRange(names);
            }
        }

        if (restriction is null)
        {
            _handlesAnyName = true;
        }
        else
        {
            _handled.AddRange(restriction);
        }
    }

    /// <summary>
    /// The names a condition lets through when it is recognised: a comparison with constants, or an
    /// and/or of them, or a call of the file's own method made of them; <c>null</c> when not (any name).
    /// </summary>
    private List<TimerName>? Restriction(SemanticModel model, ExpressionSyntax expression, int depth)
    {
        switch (Unwrap(expression))
        {
            case BinaryExpressionSyntax { RawKind: (int)SyntaxKind.LogicalAndExpression } both:
                var left = Restriction(model, both.Left, depth);
                var right = Restriction(model, both.Right, depth);
                return left is null ? right : right is null ? left : [.. left, .. right];
            case BinaryExpressionSyntax { RawKind: (int)SyntaxKind.LogicalOrExpression } either:
                return Restriction(model, either.Left, depth) is { } first && Restriction(model, either.Right, depth) is { } second
                    ? [.. first, .. second]
                    : null;
            case BinaryExpressionSyntax { RawKind: (int)SyntaxKind.EqualsExpression } equals:
                return (Comparison(model, equals.Left, equals.Right) ?? Comparison(model, equals.Right, equals.Left)) is { } name ? [name] : null;
            case IsPatternExpressionSyntax pattern when IsName(model, pattern.Expression):
                return PatternRestriction(model, pattern.Pattern);
            case IsPatternExpressionSyntax { Pattern: RecursivePatternSyntax { PropertyPatternClause: { } properties } } pattern
                when SymbolEqualityComparer.Default.Equals(model.GetTypeInfo(pattern.Expression).Type, _elapsed):
                return properties.Subpatterns
                    .Where(s => IsName(model, (ExpressionSyntax?)s.NameColon?.Name ?? s.ExpressionColon?.Expression))
                    .Select(s => PatternRestriction(model, s.Pattern))
                    .FirstOrDefault(r => r is not null);
            case InvocationExpressionSyntax invocation when model.GetSymbolInfo(invocation).Symbol is IMethodSymbol method:
                if (StringTest(model, invocation, method) is { } test)
                {
                    return [test];
                }

                return depth < MaxCallDepth && BodyOf(method) is { } body
                    ? Restriction(model.Compilation.GetSemanticModel(body.SyntaxTree), body, depth + 1)
                    : null;
            default:
                return null;
        }
    }

    private static List<TimerName>? PatternRestriction(SemanticModel model, PatternSyntax pattern) => pattern switch
    {
        ConstantPatternSyntax constant => Constant(model, constant.Expression, prefix: false, ignoreCase: false) is { } name ? [name] : null,
        ParenthesizedPatternSyntax parenthesized => PatternRestriction(model, parenthesized.Pattern),
        BinaryPatternSyntax { RawKind: (int)SyntaxKind.OrPattern } either =>
            PatternRestriction(model, either.Left) is { } left && PatternRestriction(model, either.Right) is { } right ? [.. left, .. right] : null,
        BinaryPatternSyntax { RawKind: (int)SyntaxKind.AndPattern } both => PatternRestriction(model, both.Left) ?? PatternRestriction(model, both.Right),
        _ => null,
    };

    /// <summary>The single returned expression of a method or local function of the compilation, or <c>null</c>.</summary>
    private static ExpressionSyntax? BodyOf(IMethodSymbol method)
    {
        var declaration = method.DeclaringSyntaxReferences.Length == 1 ? method.DeclaringSyntaxReferences[0].GetSyntax() : null;
        var (arrow, block) = declaration switch
        {
            MethodDeclarationSyntax m => (m.ExpressionBody, m.Body),
            LocalFunctionStatementSyntax f => (f.ExpressionBody, f.Body),
            _ => (null, null),
        };
        return arrow?.Expression ?? (block?.Statements is [ReturnStatementSyntax { Expression: { } returned }] ? returned : null);
    }

    /// <summary>Every constant of a pattern on the name (<c>is "a" or "b"</c>, <c>is not "a"</c>, a switch arm) is a test.</summary>
    private void AddConstants(SemanticModel model, PatternSyntax pattern)
    {
        switch (pattern)
        {
            case ConstantPatternSyntax constant:
                AddIfNotNull(_tested, Constant(model, constant.Expression, prefix: false, ignoreCase: false));
                break;
            case ParenthesizedPatternSyntax parenthesized:
                AddConstants(model, parenthesized.Pattern);
                break;
            case UnaryPatternSyntax unary:
                AddConstants(model, unary.Pattern);
                break;
            case BinaryPatternSyntax binary:
                AddConstants(model, binary.Left);
                AddConstants(model, binary.Right);
                break;
        }
    }

    /// <summary><c>t.Name == "x"</c> (name on the left), located at the constant.</summary>
    private TimerName? Comparison(SemanticModel model, ExpressionSyntax name, ExpressionSyntax constant) =>
        IsName(model, name) ? Constant(model, constant, prefix: false, ignoreCase: false) : null;

    /// <summary>
    /// <c>string.Equals(t.Name, "x")</c>, <c>t.Name.Equals("x")</c>, <c>"x".Equals(t.Name)</c> and
    /// <c>t.Name.StartsWith("x")</c>, with or without a <c>StringComparison</c>; else <c>null</c>.
    /// </summary>
    private TimerName? StringTest(SemanticModel model, InvocationExpressionSyntax invocation, IMethodSymbol method)
    {
        if (method.ContainingType.SpecialType != SpecialType.System_String || method.Name is not ("Equals" or "StartsWith"))
        {
            return null;
        }

        var receiver = method.IsStatic ? null : (invocation.Expression as MemberAccessExpressionSyntax)?.Expression;
        var operands = method.Parameters
            .Where(p => p.Type.SpecialType == SpecialType.System_String)
            .Select(p => ArgumentFor(method, invocation.ArgumentList, p))
            .Prepend(receiver)
            .OfType<ExpressionSyntax>()
            .ToList();
        if (operands.Count != 2 || (method.Name == "StartsWith" && !IsName(model, operands[0])))
        {
            return null;
        }

        var ignoreCase = method.Parameters.Any(p => IgnoresCase(model, p, ArgumentFor(method, invocation.ArgumentList, p)));
        return IsName(model, operands[0]) ? Constant(model, operands[1], method.Name == "StartsWith", ignoreCase)
            : IsName(model, operands[1]) ? Constant(model, operands[0], prefix: false, ignoreCase)
            : null;
    }

    /// <summary>A <c>StringComparison</c> argument ignoring case, or not constant; <c>ignoreCase: true</c>.</summary>
    private static bool IgnoresCase(SemanticModel model, IParameterSymbol parameter, ExpressionSyntax? argument)
    {
        if (argument is null)
        {
            return false;
        }

        var value = model.GetConstantValue(argument);
        return parameter.Type.ToDisplayString() == "System.StringComparison"
            ? !value.HasValue || value.Value is int comparison && (StringComparison)comparison is StringComparison.CurrentCultureIgnoreCase
                or StringComparison.InvariantCultureIgnoreCase or StringComparison.OrdinalIgnoreCase
            : parameter.Type.SpecialType == SpecialType.System_Boolean && parameter.Name == "ignoreCase" && value.Value is not false;
    }

    /// <summary>The argument given for <paramref name="parameter"/>, by name or by position; <c>null</c> when left out.</summary>
    private static ExpressionSyntax? ArgumentFor(IMethodSymbol method, ArgumentListSyntax arguments, IParameterSymbol parameter)
    {
        var index = method.Parameters.IndexOf(parameter);
        for (var i = 0; i < arguments.Arguments.Count; i++)
        {
            var argument = arguments.Arguments[i];
            if (argument.NameColon is { } named ? named.Name.Identifier.ValueText == parameter.Name : i == index)
            {
                return argument.Expression;
            }
        }

        return null;
    }

    private bool IsName(SemanticModel model, ExpressionSyntax? expression) =>
        expression is not null
        && model.GetSymbolInfo(Unwrap(expression)).Symbol is IPropertySymbol { Name: nameof(TimerElapsed.Name) } property
        && SymbolEqualityComparer.Default.Equals(property.ContainingType, _elapsed);

    private static TimerName? Constant(SemanticModel model, ExpressionSyntax expression, bool prefix, bool ignoreCase)
    {
        if (model.GetConstantValue(expression) is not { HasValue: true, Value: string name })
        {
            return null;
        }

        var span = expression.GetLocation().GetMappedLineSpan();
        return new TimerName(name, prefix, ignoreCase, span.Path, span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1);
    }

    /// <summary>
    /// The start of a computed name that is known: the text before the first hole of <c>$"reminder-{h}h"</c>,
    /// the constant left of <c>"reminder-" + h</c>; <c>""</c> when nothing is known.
    /// </summary>
    private static string KnownStart(SemanticModel model, ExpressionSyntax expression)
    {
        expression = Unwrap(expression);
        if (model.GetConstantValue(expression) is { HasValue: true, Value: string constant })
        {
            return constant;
        }

        switch (expression)
        {
            case InterpolatedStringExpressionSyntax interpolated
                when !interpolated.StringStartToken.IsKind(SyntaxKind.InterpolatedMultiLineRawStringStartToken):
                var start = new StringBuilder();
                foreach (var content in interpolated.Contents)
                {
                    if (content is InterpolatedStringTextSyntax text)
                    {
                        start.Append(text.TextToken.ValueText);
                    }
                    else if (content is InterpolationSyntax { AlignmentClause: null, FormatClause: null } hole
                        && model.GetConstantValue(hole.Expression) is { HasValue: true, Value: string value })
                    {
                        start.Append(value);
                    }
                    else
                    {
                        break;
                    }
                }

                return start.ToString();
            case BinaryExpressionSyntax { RawKind: (int)SyntaxKind.AddExpression } concatenation:
                return model.GetConstantValue(concatenation.Left) is { HasValue: true, Value: string left }
                    ? left + KnownStart(model, concatenation.Right)
                    : KnownStart(model, concatenation.Left);
            default:
                return "";
        }
    }

    private static ExpressionSyntax Unwrap(ExpressionSyntax expression)
    {
        while (true)
        {
            switch (expression)
            {
                case ParenthesizedExpressionSyntax parenthesized:
                    expression = parenthesized.Expression;
                    break;
                case PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.SuppressNullableWarningExpression } suppressed:
                    expression = suppressed.Operand;
                    break;
                default:
                    return expression;
            }
        }
    }

    private static void AddIfNotNull(List<TimerName> names, TimerName? name)
    {
        if (name is not null)
        {
            names.Add(name);
        }
    }
}
