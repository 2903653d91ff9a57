using FreeScoutRules.Actions;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// What one evaluation of a delivery commits, all or nothing, with the delivery's done mark: the
/// conversation's new known state and applied sequence, the status changes, the action intents (the
/// outbox), the timers scheduled or cancelled, and the result record. The policy (which intents are kept, what is stale) is decided by
/// the evaluation pipeline before; storage only writes it.
/// </summary>
/// <remarks>NextState: The new known state, or <c>null</c> to keep the prior one (a stale delivery).</remarks>
internal sealed record EvaluationCommit(
    long DeliveryId,
    int ConversationId,
    long Sequence,
    DateTimeOffset ProcessedAt,
    string RulesGeneration,
    NextState? NextState,
    IReadOnlyList<StatusChanged> StatusChanges,
    IReadOnlyList<ActionIntent> Intents,
    DeliveryResult Result,
    IReadOnlyList<TimerChange>? Timers = null);

/// <summary>A failed attempt at a delivery; <see cref="Park"/> moves its conversation past it.</summary>
internal sealed record DeliveryFailure(long DeliveryId, int ConversationId, long Sequence, string Error, bool Park, DeliveryResult? Result = null);

/// <summary>
/// Storage refused a commit because the delivery is not pending any more: something processed it
/// already. Nothing of the refused commit was written.
/// </summary>
internal sealed class DeliveryNotPendingException(long deliveryId)
    : InvalidOperationException($"Delivery {deliveryId} is not pending; it was processed already.")
{
    public long DeliveryId { get; } = deliveryId;
}
