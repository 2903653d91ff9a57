using System.Diagnostics.CodeAnalysis;

namespace FreeScoutRules.Engine.Parsing;

/// <summary>Either a <see cref="ParsedDelivery"/> or the <see cref="DeliveryProblem"/> that refused it.</summary>
internal readonly record struct ParseResult(ParsedDelivery? Delivery, DeliveryProblem? Problem)
{
    [MemberNotNullWhen(true, nameof(Delivery))]
    [MemberNotNullWhen(false, nameof(Problem))]
    public bool IsValid => Delivery is not null;

    public static ParseResult Ok(ParsedDelivery delivery) => new(delivery, null);

    public static ParseResult Fail(DeliveryProblemKind kind, string message) => new(null, new DeliveryProblem(kind, message));
}
