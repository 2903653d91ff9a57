using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace FreeScoutRules.Engine.Rules;

/// <summary>What an argument of a concise rule's call (<c>FreeScoutRules.Ops</c>) names.</summary>
internal enum ConciseArgument
{
    /// <summary>A conversation status: <c>On.StatusChange(to:, from:)</c>, <c>WhenStatus</c>, <c>UnlessStatus</c>, <c>SetStatus</c>.</summary>
    Status,

    /// <summary>An event name: <c>On.Event(…)</c>, <c>On.StatusChange(via:)</c>.</summary>
    Event,

    /// <summary>A timer scheduled: <c>.Schedule(name, …)</c>.</summary>
    TimerScheduled,

    /// <summary>A timer cancelled: <c>.Cancel(…)</c>.</summary>
    TimerCancelled,

    /// <summary>A timer handled: <c>On.Timer(…)</c>.</summary>
    TimerHandled,

    /// <summary>A business calendar: <c>.Schedule(…, businessHours:)</c>.</summary>
    Calendar,

    /// <summary>An action: <c>.Do(name, …)</c>.</summary>
    Action,
}

/// <summary>
/// Recognises the calls of the concise rule API (<c>FreeScoutRules.Ops</c>: <c>On.…</c> and the declarations' methods) in
/// a rule file, so that the engine's diagnostics see what they name (statuses, events, timers, calendars, actions) at
/// the call, as they see <c>ctx.Enqueue</c>, <c>ctx.Schedule</c> and comparisons in rules written in NRules' DSL.
/// Stateless.
/// </summary>
internal static class ConciseCalls
{
    public const string Namespace = "FreeScoutRules.Ops";

    /// <summary>The parameters that name something, by method and parameter name.</summary>
    private static readonly Dictionary<(string Method, string Parameter), ConciseArgument> Named = new()
    {
        [("StatusChange", "to")] = ConciseArgument.Status,
        [("StatusChange", "from")] = ConciseArgument.Status,
        [("StatusChange", "via")] = ConciseArgument.Event,
        [("WhenStatus", "statuses")] = ConciseArgument.Status,
        [("UnlessStatus", "statuses")] = ConciseArgument.Status,
        [("SetStatus", "status")] = ConciseArgument.Status,
        [("Event", "events")] = ConciseArgument.Event,
        [("Timer", "names")] = ConciseArgument.TimerHandled,
        [("Schedule", "timer")] = ConciseArgument.TimerScheduled,
        [("Schedule", "businessHours")] = ConciseArgument.Calendar,
        [("Cancel", "timers")] = ConciseArgument.TimerCancelled,
        [("Do", "action")] = ConciseArgument.Action,
    };

    /// <summary>The built-in actions that methods record, by method name.</summary>
    private static readonly Dictionary<string, string> BuiltInActions = new(StringComparer.Ordinal)
    {
        ["Post"] = "http",
        ["Note"] = "freescout",
        ["Reply"] = "freescout",
        ["SetStatus"] = "freescout",
        ["SetTags"] = "freescout",
        ["Assign"] = "freescout",
        ["FreeScout"] = "freescout",
    };

    /// <summary>The method of the concise API that <paramref name="invocation"/> calls, or <c>null</c>.</summary>
    public static IMethodSymbol? MethodOf(SemanticModel model, InvocationExpressionSyntax invocation) =>
        model.GetSymbolInfo(invocation).Symbol is IMethodSymbol method && method.ContainingNamespace?.ToDisplayString() == Namespace ? method : null;

    /// <summary>
    /// The arguments of a concise call that name something, each as written (every element of a <c>params</c> list);
    /// empty for any other call.
    /// </summary>
    public static List<(ConciseArgument Kind, ExpressionSyntax Value)> Arguments(SemanticModel model, InvocationExpressionSyntax invocation)
    {
        var found = new List<(ConciseArgument, ExpressionSyntax)>();
        if (MethodOf(model, invocation) is not { } method || model.GetOperation(invocation) is not IInvocationOperation operation)
        {
            return found;
        }

        foreach (var argument in operation.Arguments)
        {
            if (argument.Parameter is not { } parameter
                || argument.ArgumentKind == ArgumentKind.DefaultValue
                || !Named.TryGetValue((method.Name, parameter.Name), out var kind))
            {
                continue;
            }

            if (argument.Value is IArrayCreationOperation { Initializer: { } initializer } && parameter.IsParams)
            {
                found.AddRange(initializer.ElementValues.Select(e => (kind, (ExpressionSyntax)e.Syntax)));
            }
            else if (argument.Value.Syntax is ExpressionSyntax value)
            {
                found.Add((kind, value));
            }
        }

        return found;
    }

    /// <summary>
    /// The built-in action a concise call records (<c>Post</c>: <c>http</c>; <c>Note</c>, <c>SetStatus</c>…:
    /// <c>freescout</c>), with the node naming the call; <c>null</c> for any other call.
    /// </summary>
    public static (string Action, SyntaxNode At)? BuiltInActionOf(SemanticModel model, InvocationExpressionSyntax invocation) =>
        MethodOf(model, invocation) is { } method && method.ContainingType.Name.StartsWith("OpsDeclaration", StringComparison.Ordinal)
            && BuiltInActions.TryGetValue(method.Name, out var action)
            ? (action, invocation.Expression is MemberAccessExpressionSyntax member ? member.Name : invocation.Expression)
            : null;
}
