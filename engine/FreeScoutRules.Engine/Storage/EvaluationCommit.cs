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
/// <remarks>
/// Destinations: where each of <see cref="Intents"/> goes, in the same order, as its plugin says
/// (<see cref="IActionHandler.Destination"/>; <see cref="Actions.IntentDestinations"/>); <c>null</c> for all, or an
/// entry <c>null</c>: the intent's action as a whole.
/// </remarks>
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
    IReadOnlyList<TimerChange>? Timers = null,
    IReadOnlyList<string?>? Destinations = null)
{
    /// <summary>The claim the evaluation ran under: the commit is refused (<see cref="ClaimLostException"/>) unless it is still the conversation's.</summary>
    public required ConversationClaim Claim { get; init; }

    /// <summary>Release the claim with this commit when the conversation has no other pending delivery (its lane's last).</summary>
    public bool Release { get; init; }

    /// <summary>Where intent <paramref name="index"/> of <see cref="Intents"/> goes: its destination, else its action's name.</summary>
    public string DestinationOf(int index)
    {
        if (Destinations is { } destinations && destinations.Count != Intents.Count)
        {
            throw new InvalidOperationException($"{destinations.Count} destinations for {Intents.Count} intents: they go in pairs.");
        }

        return Destinations?[index] ?? Intents[index].Action;
    }
}

/// <summary>A failed attempt at a delivery; <see cref="Park"/> moves its conversation past it.</summary>
internal sealed record DeliveryFailure(long DeliveryId, int ConversationId, long Sequence, string Error, bool Park, DeliveryResult? Result = null)
{
    /// <summary>The claim the attempt ran under: the record is refused (<see cref="ClaimLostException"/>) unless it is still the conversation's.</summary>
    public required ConversationClaim Claim { get; init; }
}

/// <summary>
/// Storage refused a commit because the delivery is not pending any more: something processed it
/// already. Nothing of the refused commit was written.
/// </summary>
internal sealed class DeliveryNotPendingException(long deliveryId)
    : InvalidOperationException($"Delivery {deliveryId} is not pending; it was processed already.")
{
    public long DeliveryId { get; } = deliveryId;
}
