using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;
using NRules;
using NRules.Extensibility;

namespace FreeScoutRules.Engine.Pipeline;

/// <summary>
/// The one evaluation: (a delivery, its conversation's known state, the settings in force, a rule
/// generation) → what it produces (<see cref="EvaluationResult"/>). <c>serve</c>'s dispatcher, the admin
/// API's re-runs, <c>test</c>, <c>replay</c> and <c>explain</c> all evaluate here; <c>explain</c> only
/// adds an observer of NRules' events. The policy lives here too, not in storage: which facts are
/// inserted (<see cref="OwnWrite"/> for our bot's writes), what a failing rule costs (itself only: its
/// intents are dropped, the other rules run; a failing built-in status rule fails the evaluation), and
/// the runaway-rule limit. No I/O. Thread-safe: each call has its own NRules session.
/// </summary>
internal sealed partial class EvaluationPipeline(PipelineSettings settings)
{
    public PipelineSettings Settings { get; } = settings;

    /// <param name="rules">The generation to run.</param>
    /// <param name="delivery">The delivery.</param>
    /// <param name="state">Its conversation's known state.</param>
    /// <param name="probe">Told which rule runs, for a watchdog on another thread; optional.</param>
    /// <param name="observer">Sees the session before it fires (explain); optional.</param>
    /// <param name="rerunRules">For a re-run of a delivery that was processed: only these rules (those that failed then) may queue intents.</param>
    public EvaluationResult Evaluate(
        RuleSetGeneration rules, Delivery delivery, KnownConversation state,
        RuleProbe? probe = null, Action<ISession>? observer = null, IReadOnlySet<string>? rerunRules = null)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return Run(rules, new EvaluationResolver(delivery, null, Settings.Calendars), state, probe, observer, rerunRules);
    }

    /// <summary>
    /// Evaluates a timer's firing: the rules see <paramref name="timer"/> (no <see cref="Delivery"/>) and the
    /// conversation's known state; the built-in status rules match deliveries only, so nothing about the status
    /// is derived and the state stays. Its clock (for <c>ctx.Schedule</c> and the runaway limit) is the due time.
    /// </summary>
    public EvaluationResult Evaluate(
        RuleSetGeneration rules, TimerElapsed timer, KnownConversation state,
        RuleProbe? probe = null, Action<ISession>? observer = null, IReadOnlySet<string>? rerunRules = null)
    {
        ArgumentNullException.ThrowIfNull(timer);
        return Run(rules, new EvaluationResolver(null, timer, Settings.Calendars), state, probe, observer, rerunRules);
    }

    private EvaluationResult Run(
        RuleSetGeneration rules, EvaluationResolver subject, KnownConversation state,
        RuleProbe? probe, Action<ISession>? observer, IReadOnlySet<string>? rerunRules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(state);
        var session = rules.SessionFactory.CreateSession();
        session.DependencyResolver = subject;
        var fired = new List<string>();
        var failures = new List<RuleFailureRecord>();
        session.Events.RuleFiredEvent += (_, e) => fired.Add(e.Rule.Name);
        session.Events.LhsExpressionFailedEvent += (_, e) =>
        {
            e.IsHandled = true;
            foreach (var rule in e.Rules)
            {
                Fail(rules, failures, rule.Name, $"condition {Describe(e.Expression)}", e.Exception);
            }
        };
        session.Events.RhsExpressionFailedEvent += (_, e) =>
        {
            e.IsHandled = true;
            Fail(rules, failures, e.Match.Rule.Name, $"action {Describe(e.Expression)}", e.Exception);
        };
        session.Events.AgendaExpressionFailedEvent += (_, e) =>
        {
            e.IsHandled = true;
            Fail(rules, failures, e.Match.Rule.Name, $"filter {Describe(e.Expression)}", e.Exception);
        };
        observer?.Invoke(session);

        // Conditions run as facts are inserted, not only when firing: the watchdog must see them too.
        RuleProbe.Active = probe;
        List<string> facts = [subject.Delivery is null ? nameof(TimerElapsed) : nameof(Delivery)];
        try
        {
            Insert(session, subject, state, facts);
            session.Fire();
        }
        finally
        {
            RuleProbe.Active = null;
        }

        // Query<T>() is an IQueryable: LINQ operators on it compile an expression tree per call
        // (~250 µs). AsEnumerable() keeps every operator in memory.
        var (intents, suppressed) = Keep(session.Query<ActionIntent>().AsEnumerable(), subject.Clock, state, failures, rerunRules);
        return new EvaluationResult(
            facts,
            fired,
            [.. session.Query<StatusChanged>().AsEnumerable()],
            intents,
            suppressed,
            subject.Delivery is null ? null : session.Query<NextState>().AsEnumerable().FirstOrDefault(s => s.ConversationId == subject.ConversationId),
            failures,
            state.Known,
            KeepTimers(session.Query<TimerChange>().AsEnumerable(), failures, rerunRules));
    }

    /// <summary>
    /// The timer changes to store: those of rules that did not fail (and, in a re-run, of the rules re-run),
    /// the last one recorded per conversation and name.
    /// </summary>
    private static List<TimerChange> KeepTimers(IEnumerable<TimerChange> recorded, List<RuleFailureRecord> failures, IReadOnlySet<string>? rerunRules)
    {
        var kept = new List<TimerChange>();
        foreach (var change in recorded)
        {
            if (HasFailed(failures, change.Rule) || (rerunRules is not null && !rerunRules.Contains(change.Rule)))
            {
                continue;
            }

            kept.RemoveAll(k => k.ConversationId == change.ConversationId && string.Equals(k.Name, change.Name, StringComparison.Ordinal));
            kept.Add(change);
        }

        return kept;
    }

    private void Insert(ISession session, EvaluationResolver subject, KnownConversation state, List<string> facts)
    {
        session.Insert(subject.Delivery ?? (object)subject.Timer!);
        if (state.Known is { } known)
        {
            session.Insert(known);
            facts.Add(nameof(PriorState));
        }

        if (subject.Delivery is { } delivery && Settings.BotUserId is { } bot && OwnWrite.IsOwnWrite(delivery, bot))
        {
            session.Insert(new OwnWrite(delivery.ConversationId, bot));
            facts.Add(nameof(OwnWrite));
        }
    }

    /// <summary>The conversation's state after <paramref name="result"/> is committed.</summary>
    public KnownConversation Advance(KnownConversation before, Delivery delivery, EvaluationResult result)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return Advance(before, delivery.ReceivedAt, result);
    }

    /// <summary>The conversation's state after <paramref name="result"/> of an evaluation at <paramref name="clock"/> is committed.</summary>
    public KnownConversation Advance(KnownConversation before, DateTimeOffset clock, EvaluationResult result)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(result);
        var known = result.NextState is { } next
            // Milliseconds, the precision storage keeps: the same state whether it comes from memory or from disk.
            ? new PriorState(next.ConversationId, next.Status, DateTimeOffset.FromUnixTimeMilliseconds(next.UpdatedAt.ToUnixTimeMilliseconds()))
            : before.Known;
        var since = clock - Settings.RuleActionWindow;
        var recent = before.RecentIntents.Count == 0 && result.Intents.Count == 0
            ? before.RecentIntents
            : [.. before.RecentIntents.Where(i => i.At >= since), .. result.Intents.Select(i => new RecentIntent(i.Rule, clock))];
        return new KnownConversation(before.ConversationId, known, recent);
    }

    private (List<ActionIntent> Kept, List<SuppressedIntent> Suppressed) Keep(
        IEnumerable<ActionIntent> recorded, DateTimeOffset clock, KnownConversation state, List<RuleFailureRecord> failures, IReadOnlySet<string>? rerunRules)
    {
        var kept = new List<ActionIntent>();
        var suppressed = new List<SuppressedIntent>();
        var since = clock - Settings.RuleActionWindow;
        foreach (var intent in recorded)
        {
            string? reason = null;
            if (HasFailed(failures, intent.Rule))
            {
                reason = $"Rule '{intent.Rule}' failed on this evaluation: its action '{intent.Action}' was not queued.";
            }
            else if (rerunRules is not null && !rerunRules.Contains(intent.Rule))
            {
                reason = $"Re-run: rule '{intent.Rule}' did not fail the first time, so its action '{intent.Action}' was queued then.";
            }
            else if (state.CountRecent(intent.Rule, since) + CountByRule(kept, intent.Rule) >= Settings.RuleActionLimit)
            {
                reason = $"Rule '{intent.Rule}' already queued {Settings.RuleActionLimit} actions for conversation {intent.ConversationId} within {Settings.RuleActionWindow}: '{intent.Action}' was not queued (a runaway rule? our own writes echoed back?).";
            }

            if (reason is null)
            {
                kept.Add(intent);
            }
            else
            {
                suppressed.Add(new SuppressedIntent(intent, reason));
            }
        }

        return (kept, suppressed);
    }

    private static bool HasFailed(List<RuleFailureRecord> failures, string rule)
    {
        foreach (var failure in failures)
        {
            if (string.Equals(failure.Rule, rule, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static int CountByRule(List<ActionIntent> intents, string rule)
    {
        var count = 0;
        foreach (var intent in intents)
        {
            if (string.Equals(intent.Rule, rule, StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>
    /// The failed expression as the rule's author wrote it: a concise rule's condition or action is NRules' call of the
    /// author's lambda held as a constant (<c>(ctx, change) =&gt; Post("…", c =&gt; …).Run(ctx, change)</c>), shown as that
    /// constant (<c>Post("…", c =&gt; …)</c>); any other expression as NRules prints it.
    /// </summary>
    internal static string Describe(System.Linq.Expressions.Expression expression) =>
        expression is System.Linq.Expressions.LambdaExpression
        {
            Body: System.Linq.Expressions.MethodCallExpression { Object: System.Linq.Expressions.ConstantExpression { Value: { } step } },
        } && step.GetType().Namespace == typeof(FreeScoutRules.Ops.OpsRule).Namespace
            ? step.ToString()!
            : expression.ToString();

    private static void Fail(RuleSetGeneration rules, List<RuleFailureRecord> failures, string rule, string expression, Exception? exception)
    {
        if (HasFailed(failures, rule))
        {
            return; // once per rule and delivery: a condition fails on every fact it sees
        }

        var compiled = rules.Find(rule);
        var error = exception is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : exception ?? new InvalidOperationException("(no exception given)");
        var frame = RuleFrames.FirstOf(error) is { } thrown ? thrown with { File = thrown.File is { } file ? rules.Paths.Display(file) : null } : null;
        failures.Add(new RuleFailureRecord(
            rule,
            compiled?.Location ?? "(rules)",
            frame is null ? Readable(expression) : $"{Readable(expression)}, at {frame}",
            $"{error.GetType().Name}: {error.Message}",
            compiled?.BuiltIn ?? false));
    }

    /// <summary>
    /// An expression as the rule's author wrote it, not as the compiler named its parts: an anonymous object
    /// <c>new &lt;&gt;f__AnonymousType0#1`2(url = "…", text = …)</c> reads <c>new { url = "…", text = … }</c>.
    /// </summary>
    internal static string Readable(string expression)
    {
        var result = new System.Text.StringBuilder(expression.Length);
        var at = 0;
        foreach (System.Text.RegularExpressions.Match match in AnonymousType().Matches(expression))
        {
            if (match.Index < at)
            {
                continue;
            }

            // The arguments run to the parenthesis that closes the one the match ends with (strings may hold parentheses).
            var (depth, end, quoted) = (1, match.Index + match.Length, false);
            for (; end < expression.Length && depth > 0; end++)
            {
                var c = expression[end];
                if (c == '"' && expression[end - 1] != '\\')
                {
                    quoted = !quoted;
                }
                else if (!quoted)
                {
                    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
                }
            }

            if (depth != 0)
            {
                break; // not the shape expected: leave the rest as it is
            }

            result.Append(expression, at, match.Index - at).Append("new { ")
                .Append(Readable(expression[(match.Index + match.Length)..(end - 1)])).Append(" }");
            at = end;
        }

        return result.Append(expression, at, expression.Length - at).ToString();
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"new <>f__AnonymousType\d+(?:#\d+)?`\d+\(")]
    private static partial System.Text.RegularExpressions.Regex AnonymousType();
}

/// <summary>
/// What rules resolve through <c>ctx.Resolve</c>: the delivery or timer being evaluated (the other is
/// <c>null</c>; <see cref="RuleContextExtensions"/> take the conversation and the clock from whichever is
/// there) and the business calendars.
/// </summary>
internal sealed class EvaluationResolver(Delivery? delivery, TimerElapsed? timer, FreeScoutRules.Timers.IBusinessCalendars calendars) : IDependencyResolver
{
    public Delivery? Delivery { get; } = delivery;

    public TimerElapsed? Timer { get; } = timer;

    public int ConversationId => Delivery?.ConversationId ?? Timer!.ConversationId;

    /// <summary>"Now" for the evaluation: a delivery's receipt, a timer's due time. Never the wall clock.</summary>
    public DateTimeOffset Clock => Delivery?.ReceivedAt ?? Timer!.DueAt;

    public object Resolve(IResolutionContext context, Type serviceType) =>
        serviceType == typeof(Delivery) ? Delivery!
        : serviceType == typeof(TimerElapsed) ? Timer!
        : serviceType == typeof(FreeScoutRules.Timers.IBusinessCalendars) ? calendars
        : throw new InvalidOperationException($"Rules can resolve only the delivery, the timer and the business calendars, not {serviceType.Name}.");
}
