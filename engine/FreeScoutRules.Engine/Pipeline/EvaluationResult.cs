using System.Text.Json;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Pipeline;

/// <summary>What one evaluation produced. Immutable.</summary>
/// <param name="Facts">The facts the engine inserted before firing (<c>Delivery</c>, <c>PriorState</c>, <c>OwnWrite</c>).</param>
/// <param name="RulesFired">Names of the rules that fired, in firing order.</param>
/// <param name="StatusChanges">Derived status changes, in the order rules inserted them.</param>
/// <param name="Intents">Action intents to queue, in the order rules recorded them.</param>
/// <param name="Suppressed">Intents rules recorded that are not queued, each with why.</param>
/// <param name="NextState">The known state to record, or <c>null</c> to keep the prior one (a stale delivery).</param>
/// <param name="Failures">Rules that threw; each failed alone, the others ran.</param>
/// <param name="Prior">The known state it was evaluated against (<c>null</c>: nothing was known).</param>
/// <param name="Timers">Timers to schedule or cancel, one change per conversation and name (<c>null</c>: none).</param>
internal sealed record EvaluationResult(
    IReadOnlyList<string> Facts,
    IReadOnlyList<string> RulesFired,
    IReadOnlyList<StatusChanged> StatusChanges,
    IReadOnlyList<ActionIntent> Intents,
    IReadOnlyList<SuppressedIntent> Suppressed,
    NextState? NextState,
    IReadOnlyList<RuleFailureRecord> Failures,
    PriorState? Prior = null,
    IReadOnlyList<TimerChange>? Timers = null)
{
    /// <summary>The timer changes, none when <see cref="Timers"/> is <c>null</c>.</summary>
    public IReadOnlyList<TimerChange> TimerChanges => Timers ?? [];

    /// <summary>
    /// A built-in status rule failed: the status semantics of this delivery are unknown, so nothing of
    /// it may be committed. The server retries it and then parks it; offline runs keep the state as it was.
    /// </summary>
    public bool BuiltInFailed => Failures.Any(f => f.BuiltIn);

    /// <summary>A delivery older than the known state: nothing derived, the state stays. Never a timer's evaluation.</summary>
    public bool Stale => NextState is null && !BuiltInFailed && !IsTimer;

    /// <summary>The evaluation of a timer's firing, not of a delivery.</summary>
    public bool IsTimer => Facts.Count > 0 && Facts[0] == nameof(TimerElapsed);

    /// <summary>One line for people naming the failed rules.</summary>
    public string DescribeFailures() =>
        string.Join("; ", Failures.Select(f => $"rule '{f.Rule}' ({f.Location}) failed in {f.Where}: {f.Message}"));

    /// <summary>
    /// The record kept with the delivery and shown by the admin API. When the built-in status rules
    /// failed, it holds no status change and no intent: nothing of the evaluation is committed.
    /// </summary>
    /// <param name="botUserId">Our bot user, to tell its changes from an agent's (<see cref="PipelineSettings.BotUserId"/>).</param>
    public DeliveryResult ToRecord(int? botUserId = null) => new(
        BuiltInFailed ? [] : [.. StatusChanges.Select(c => new StatusChangeRecord(
            c.From, c.To, c.Via, c.At, c.By is { IsUser: true } user ? user.Id : null, ActorRecord.Of(c.By, botUserId)))],
        RulesFired,
        BuiltInFailed ? [] : [.. Intents.Select(i => new ActionIntentRecord(i.Rule, i.Action, JsonDocument.Parse(i.Arguments).RootElement.Clone()))],
        Stale,
        Suppressed.Count == 0 ? null : [.. Suppressed.Select(s => s.Reason)],
        Failures.Count == 0 ? null : Failures,
        Facts,
        PriorRecord.Of(Prior))
    {
        Timers = BuiltInFailed || TimerChanges.Count == 0 ? null : [.. TimerChanges.Select(TimerRecord.Of)],
    };
}

/// <summary>An intent a rule recorded that is not queued, and why (the runaway limit, the rule failed, a re-run).</summary>
internal sealed record SuppressedIntent(ActionIntent Intent, string Reason);
