namespace FreeScoutRules.Engine.Parsing;

/// <summary>Why a delivery was refused. The HTTP status each maps to is documented per value.</summary>
internal enum DeliveryProblemKind
{
    /// <summary>The event name is not one FreeScout sends (422).</summary>
    UnknownEvent,

    /// <summary>The body is not JSON, or not the JSON shape of the event (400).</summary>
    MalformedJson,

    /// <summary>The JSON parsed but fails validation (422).</summary>
    Invalid,
}

/// <summary>A refused delivery: what kind of problem, and a message naming exactly what is wrong.</summary>
internal sealed record DeliveryProblem(DeliveryProblemKind Kind, string Message)
{
    public override string ToString() => Message;
}
