namespace FreeScoutRules.Facts;

/// <summary>
/// The event names of deliveries the engine makes itself (<see cref="Delivery.Event"/>, <see cref="StatusChanged.Via"/>).
/// Reserved: FreeScout never sends them, and ingestion refuses them from outside.
/// </summary>
public static class EngineEvents
{
    /// <summary>A timer that fell due (its rules see a <see cref="TimerElapsed"/> fact, not a <see cref="Delivery"/>).</summary>
    public const string TimerElapsed = "timer.elapsed";

    /// <summary>
    /// A snapshot read from FreeScout's REST API by reconciliation, newer than what the webhooks told: a
    /// <see cref="Delivery"/> with this event, and a <see cref="StatusChanged"/> with this <c>Via</c> when it
    /// reveals a change no webhook reported.
    /// </summary>
    public const string Reconciliation = "reconciliation";

}
