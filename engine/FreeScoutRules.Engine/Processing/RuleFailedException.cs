namespace FreeScoutRules.Engine.Processing;

/// <summary>A rule threw while a delivery was evaluated. Nothing of that evaluation is kept.</summary>
internal sealed class RuleFailedException(string? ruleName, string deliveryId, Exception inner)
    : Exception(
        $"{(ruleName is null ? "A rule condition" : $"Rule '{ruleName}'")} failed on delivery {deliveryId}: {inner.GetBaseException().Message}",
        inner)
{
    /// <summary>The failing rule, when NRules names it (right-hand sides); <c>null</c> for a condition.</summary>
    public string? RuleName { get; } = ruleName;

    public string DeliveryId { get; } = deliveryId;
}
