using FreeScoutRules.Actions;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Processing;

/// <summary>What one delivery produced in a rule session.</summary>
/// <param name="StatusChanges">Derived status changes, in the order rules inserted them.</param>
/// <param name="Intents">Recorded action intents, in the order rules recorded them.</param>
/// <param name="NextState">The known state to record, or <c>null</c> to keep the prior one (stale delivery).</param>
/// <param name="RulesFired">Names of the rules that fired, in firing order.</param>
internal sealed record Evaluation(
    IReadOnlyList<StatusChanged> StatusChanges,
    IReadOnlyList<ActionIntent> Intents,
    NextState? NextState,
    IReadOnlyList<string> RulesFired);
