using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Dispatch;

/// <summary>
/// A stored delivery read by its conversation's lane, with the claim it runs under. Those stored by this process carry
/// the conversation parsed by their producer (from its hint); the others the stored body, parsed when their turn comes.
/// </summary>
/// <remarks>Previous: What an earlier run recorded, for a delivery put back in line (a re-run).</remarks>
internal sealed record QueuedDelivery(
    long Id, string Event, int ConversationId, long Sequence, DateTimeOffset ReceivedAt,
    Conversation? Conversation, byte[]? Body, int Attempts = 0, DeliveryResult? Previous = null)
{
    /// <summary>The claim it runs under: its commit is fenced by it.</summary>
    public required ConversationClaim Claim { get; init; }

    /// <summary>Its lane's last for now: its commit releases the claim when nothing else is pending (no release of its own).</summary>
    public bool ReleaseWithCommit { get; init; }

    /// <summary>Set by the processor: its commit released the claim.</summary>
    public bool Released { get; set; }

    /// <summary>A stored delivery under <paramref name="claim"/>, with the conversation its producer parsed when there is one.</summary>
    public static QueuedDelivery From(StoredDelivery stored, ConversationClaim claim, Conversation? parsed = null)
    {
        ArgumentNullException.ThrowIfNull(stored);
        return new(stored.Id, stored.Event, stored.ConversationId, stored.Sequence, stored.ReceivedAt, parsed ?? stored.Parsed, stored.Body, stored.Attempts, stored.Result)
        {
            Claim = claim,
        };
    }

    /// <summary>
    /// For a re-run of a delivery that was processed (done, with rule failures): the rules that failed
    /// then, the only ones whose intents are queued now. <c>null</c> for a first run, or a re-run of a
    /// parked delivery (its status rules failed, so nothing of it was committed).
    /// </summary>
    /// <summary>
    /// For a delivery that was evaluated before (a re-run, or a retry after a restart): the known state
    /// it was evaluated against then, to evaluate it the same way again; <c>null</c> when none was recorded.
    /// </summary>
    public PriorRecord? EvaluatedAgainst => Previous?.Prior;

    /// <summary>What it is to the pipeline (<see cref="PipelineInput"/>: the one reading of a stored delivery); its body is parsed unless its producer's conversation came with it.</summary>
    public PipelineInput ToInput() => PipelineInput.Of(PipelineInput.IdOf(Id), Event, ReceivedAt, Body, Conversation);

    public IReadOnlySet<string>? RerunRules { get; } =
        Previous is { } previous && previous.RuleFailures?.Any(f => f.BuiltIn) != true
            ? (previous.RuleFailures ?? []).Select(f => f.Rule).ToHashSet(StringComparer.Ordinal)
            : null;
}
