using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// The engine's own checks of a compiled rule file (ids <c>FSR0001</c>–<c>FSR0008</c>, documented in
/// docs/writing-rules.md): mistakes the C# compiler cannot see because they are about FreeScout or
/// about how rules run. Runs on the semantic model of every syntax tree of the file's compilation,
/// <c>#load</c>ed helpers included, and on the same walk collects the file's timer names for the checks
/// across files (<see cref="TimerNameCollector"/>, FSR0009 and FSR0010). Stateless.
/// </summary>
internal static class RuleFileAnalyzer
{
    private static readonly HashSet<(string Type, string Property)> EventProperties =
    [
        (typeof(Delivery).FullName!, nameof(Delivery.Event)),
        (typeof(StatusChanged).FullName!, nameof(StatusChanged.Via)),
        (typeof(FreeScoutRules.Ops.Occasion).FullName!, nameof(FreeScoutRules.Ops.Occasion.Event)),
    ];

    private static readonly HashSet<(string Type, string Property)> StatusProperties =
    [
        (typeof(Delivery).FullName!, nameof(Delivery.Status)),
        (typeof(Conversation).FullName!, nameof(Conversation.Status)),
        (typeof(StatusChanged).FullName!, nameof(StatusChanged.To)),
        (typeof(StatusChanged).FullName!, nameof(StatusChanged.From)),
        (typeof(PriorState).FullName!, nameof(PriorState.Status)),
        (typeof(NextState).FullName!, nameof(NextState.Status)),
        (typeof(TimerElapsed).FullName!, nameof(TimerElapsed.KnownStatus)),
        (typeof(FreeScoutRules.Ops.Occasion).FullName!, nameof(FreeScoutRules.Ops.Occasion.Status)),
    ];

    private static readonly string[] BlockingNamespaces = ["System.IO", "System.Net", "System.Data", "Microsoft.Data"];

    /// <param name="compilation">The rule file's compilation.</param>
    /// <param name="severities">Severities per id.</param>
    /// <param name="checks">The actions (FSR0003), unready plugins (FSR0008) and secrets (FSR0007) to check against; unknown ones are skipped.</param>
    /// <param name="timers">Collects the file's timer names on the way, when given.</param>
    public static List<RuleDiagnostic> Analyze(
        Compilation compilation, RuleDiagnosticSeverities severities, RuleChecks? checks = null, TimerNameCollector? timers = null)
    {
        var found = new List<RuleDiagnostic>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                timers?.Visit(model, node);
                switch (node)
                {
                    case BinaryExpressionSyntax { RawKind: (int)SyntaxKind.EqualsExpression or (int)SyntaxKind.NotEqualsExpression } binary:
                        CheckComparison(model, binary.Left, binary.Right, severities, found);
                        CheckComparison(model, binary.Right, binary.Left, severities, found);
                        break;
                    case IsPatternExpressionSyntax { Pattern: ConstantPatternSyntax constant } pattern:
                        CheckComparison(model, pattern.Expression, constant.Expression, severities, found);
                        break;
                    case InvocationExpressionSyntax invocation:
                        CheckBlocking(model, invocation, severities, found);
                        CheckAction(model, invocation, severities, checks ?? RuleChecks.None, found);
                        CheckSecret(model, invocation, severities, (checks ?? RuleChecks.None).Secrets, found);
                        CheckCalendar(model, invocation, severities, (checks ?? RuleChecks.None).Calendars, found);
                        CheckConcise(model, invocation, severities, checks ?? RuleChecks.None, found);
                        break;
                    case ObjectCreationExpressionSyntax or ImplicitObjectCreationExpressionSyntax:
                        CheckBlocking(model, (ExpressionSyntax)node, severities, found);
                        break;
                    case MemberAccessExpressionSyntax member when model.GetSymbolInfo(member).Symbol is IPropertySymbol { Name: "Result" } result
                        && result.ContainingType.ToDisplayString().StartsWith("System.Threading.Tasks.Task", StringComparison.Ordinal):
                        Report(found, severities, EngineDiagnosticIds.BlockingCall, member,
                            "A rule blocks on Task.Result: rules run synchronously and must not wait; record an action intent with ctx.Enqueue instead.");
                        break;
                    case IdentifierNameSyntax { Identifier.Text: "dynamic" } identifier
                        when model.GetTypeInfo(identifier).Type is { TypeKind: TypeKind.Dynamic }:
                        Report(found, severities, EngineDiagnosticIds.DynamicInRule, identifier,
                            "'dynamic' in a rule file keeps every rule generation loaded forever (the runtime binder caches its types); use a concrete type.");
                        break;
                }
            }
        }

        return found;
    }

    private static void CheckComparison(
        SemanticModel model, ExpressionSyntax member, ExpressionSyntax literal, RuleDiagnosticSeverities severities, List<RuleDiagnostic> found)
    {
        if (model.GetConstantValue(literal) is not { HasValue: true, Value: string text }
            || model.GetSymbolInfo(member).Symbol is not IPropertySymbol property)
        {
            return;
        }

        var key = (property.ContainingType.ToDisplayString(), property.Name);
        if (EventProperties.Contains(key))
        {
            CheckEvent(text, literal, severities, found);
        }
        else if (StatusProperties.Contains(key))
        {
            CheckStatus(text, literal, severities, found);
        }
    }

    private static void CheckEvent(string text, SyntaxNode at, RuleDiagnosticSeverities severities, List<RuleDiagnostic> found)
    {
        if (!WebhookEvents.IsKnown(text))
        {
            Report(found, severities, EngineDiagnosticIds.UnknownEvent, at,
                $"FreeScout never sends the event '{text}'{Suggest(text, WebhookEvents.All)}; the rule would never match it (a custom Workflows event is fine: set this diagnostic's severity to none).");
        }
    }

    private static void CheckStatus(string text, SyntaxNode at, RuleDiagnosticSeverities severities, List<RuleDiagnostic> found)
    {
        if (!ConversationStatus.IsKnown(text))
        {
            var suggestion = Suggest(text, ConversationStatus.All);
            Report(found, severities, EngineDiagnosticIds.UnknownStatus, at,
                $"'{text}' is not a conversation status ({string.Join(", ", ConversationStatus.All)}){(suggestion.Length > 0 ? suggestion : ".")}");
        }
    }

    private static void CheckSecret(
        SemanticModel model, InvocationExpressionSyntax invocation, RuleDiagnosticSeverities severities, IReadOnlySet<string>? knownSecrets, List<RuleDiagnostic> found)
    {
        if (knownSecrets is null
            || model.GetSymbolInfo(invocation).Symbol is not IMethodSymbol { Name: "Ref" } method
            || method.ContainingType.ToDisplayString() != typeof(FreeScoutRules.Actions.Secret).FullName
            || invocation.ArgumentList.Arguments.Count == 0)
        {
            return;
        }

        var argument = invocation.ArgumentList.Arguments[0].Expression;
        if (model.GetConstantValue(argument) is { HasValue: true, Value: string name } && !knownSecrets.Contains(name))
        {
            Report(found, severities, EngineDiagnosticIds.UnknownSecret, argument,
                $"No secret '{name}' is configured{Suggest(name, [.. knownSecrets])}: set Secrets:{name} (environment Secrets__{name}); until then its actions fail at once.");
        }
    }

    private static void CheckCalendar(
        SemanticModel model, InvocationExpressionSyntax invocation, RuleDiagnosticSeverities severities, IReadOnlyCollection<string>? calendars, List<RuleDiagnostic> found)
    {
        if (calendars is null
            || model.GetSymbolInfo(invocation).Symbol is not IMethodSymbol { Name: nameof(FreeScoutRules.Timers.BusinessTime.After) } method
            || method.ContainingType.ToDisplayString() != typeof(FreeScoutRules.Timers.BusinessTime).FullName
            || invocation.ArgumentList.Arguments.Count == 0)
        {
            return;
        }

        var argument = invocation.ArgumentList.Arguments[0].Expression;
        if (model.GetConstantValue(argument) is { HasValue: true, Value: string name })
        {
            CheckCalendarName(name, argument, severities, calendars, found);
        }
    }

    private static void CheckCalendarName(string name, SyntaxNode at, RuleDiagnosticSeverities severities, IReadOnlyCollection<string>? calendars, List<RuleDiagnostic> found)
    {
        if (calendars is not null && !calendars.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            Report(found, severities, EngineDiagnosticIds.UnknownCalendar, at,
                $"No business calendar '{name}' is configured{Suggest(name, [.. calendars])}: set Calendars:{name}:TimeZone and Calendars:{name}:Hours (docs/writing-rules.md, \"Business hours\"); until then the rule fails when it schedules.");
        }
    }

    /// <summary>
    /// The concise API's calls (<c>On.StatusChange(to: "closd")</c>, <c>.Do("slak", …)</c>, <c>.Post(…)</c> without an
    /// <c>http</c> plugin…): the same checks as the calls and comparisons of rules in NRules' DSL, at the argument (or the
    /// method, for the action a method records).
    /// </summary>
    private static void CheckConcise(
        SemanticModel model, InvocationExpressionSyntax invocation, RuleDiagnosticSeverities severities, RuleChecks checks, List<RuleDiagnostic> found)
    {
        foreach (var (kind, value) in ConciseCalls.Arguments(model, invocation))
        {
            if (model.GetConstantValue(value) is not { HasValue: true, Value: string text })
            {
                continue;
            }

            switch (kind)
            {
                case ConciseArgument.Status:
                    CheckStatus(text, value, severities, found);
                    break;
                case ConciseArgument.Event:
                    CheckEvent(text, value, severities, found);
                    break;
                case ConciseArgument.Calendar:
                    CheckCalendarName(text, value, severities, checks.Calendars, found);
                    break;
                case ConciseArgument.Action:
                    CheckActionName(text, value, severities, checks, found);
                    break;
            }
        }

        if (ConciseCalls.BuiltInActionOf(model, invocation) is var (action, at))
        {
            CheckActionName(action, at, severities, checks, found);
        }
    }

    private static void CheckAction(
        SemanticModel model, InvocationExpressionSyntax invocation, RuleDiagnosticSeverities severities, RuleChecks checks, List<RuleDiagnostic> found)
    {
        if (checks.Actions is null
            || model.GetSymbolInfo(invocation).Symbol is not IMethodSymbol { Name: "Enqueue" } method
            || method.ContainingType.ToDisplayString() != typeof(FreeScoutRules.Actions.RuleContextExtensions).FullName
            || invocation.ArgumentList.Arguments.Count == 0)
        {
            return;
        }

        var action = invocation.ArgumentList.Arguments[0].Expression;
        if (model.GetConstantValue(action) is { HasValue: true, Value: string name })
        {
            CheckActionName(name, action, severities, checks, found);
        }
    }

    private static void CheckActionName(string name, SyntaxNode at, RuleDiagnosticSeverities severities, RuleChecks checks, List<RuleDiagnostic> found)
    {
        if (checks.Actions is { } knownActions && !knownActions.Contains(name))
        {
            Report(found, severities, EngineDiagnosticIds.UnknownAction, at,
                knownActions.Count == 0
                    ? $"No plugin provides the action '{name}' (no plugin is loaded); its intents would wait for one."
                    : $"No plugin provides the action '{name}' (loaded: {string.Join(", ", knownActions.Order(StringComparer.Ordinal))}){Suggest(name, [.. knownActions])}; its intents would wait for one.");
        }
        else if (checks.UnconfiguredActions?.TryGetValue(name, out var problem) == true)
        {
            Report(found, severities, EngineDiagnosticIds.ActionNotConfigured, at,
                $"The plugin of the action '{name}' is not ready: {problem}; its attempts would fail until it is.");
        }
    }

    private static void CheckBlocking(SemanticModel model, ExpressionSyntax node, RuleDiagnosticSeverities severities, List<RuleDiagnostic> found)
    {
        if (model.GetSymbolInfo(node).Symbol is not IMethodSymbol method)
        {
            return;
        }

        var type = method.ContainingType.ToDisplayString();
        var blocking = BlockingNamespaces.Any(ns => type.StartsWith(ns + ".", StringComparison.Ordinal))
            || (type == "System.Threading.Thread" && method.Name == "Sleep")
            || (type.StartsWith("System.Threading.Tasks.Task", StringComparison.Ordinal) && method.Name is "Wait" or "WaitAll" or "WaitAny" or "Delay")
            || type == "System.Diagnostics.Process";
        if (blocking)
        {
            Report(found, severities, EngineDiagnosticIds.BlockingCall, node,
                $"A rule calls {type}.{method.Name}: rules run synchronously inside the engine and must do no I/O and not block; record an action intent with ctx.Enqueue and let an action do it.");
        }
    }

    private static void Report(List<RuleDiagnostic> found, RuleDiagnosticSeverities severities, string id, SyntaxNode node, string message)
    {
        if (severities.Of(id) is not { } severity)
        {
            return;
        }

        var span = node.GetLocation().GetMappedLineSpan();
        found.Add(new RuleDiagnostic(span.Path, span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1, severity, id, message));
    }

    /// <summary>
    /// "; did you mean 'x'?" for the closest known value within two edits, or a fifth of the shorter name's length for long
    /// names (<c>pending-escalation</c> for <c>pending-escalate</c>: three edits), else nothing.
    /// </summary>
    public static string Suggest(string text, IReadOnlyList<string> known)
    {
        if (known.Count == 0)
        {
            return "";
        }

        var best = known.Select(k => (Value: k, Distance: Distance(text, k))).MinBy(k => k.Distance);
        return best.Distance <= Math.Max(2, Math.Min(text.Length, best.Value.Length) / 5) ? $"; did you mean '{best.Value}'?" : "";
    }

    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            previous = current;
        }

        return previous[b.Length];
    }
}
