using FreeScoutRules.FreeScout;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Actions;

/// <summary>
/// Everything one attempt of an action may use. Built by the action runner for each attempt;
/// immutable; valid for that attempt only.
/// </summary>
public sealed class ActionContext
{
    /// <summary>The intent a rule recorded.</summary>
    public required ActionIntent Intent { get; init; }

    /// <summary>The intent's arguments as a JSON object.</summary>
    public string Arguments => Intent.Arguments;

    /// <summary>Stable across every attempt of this intent, also after a restart: send it as an idempotency key.</summary>
    public required string IdempotencyKey { get; init; }

    /// <summary>
    /// True when the rule put a secret into the arguments (<see cref="Secret.Ref"/>): then nothing of this attempt may
    /// go to an origin other than the one the rule named (a redirect elsewhere is refused).
    /// </summary>
    public bool CarriesSecrets { get; init; }

    /// <summary>1 for the first attempt.</summary>
    public required int Attempt { get; init; }

    /// <summary>The conversation as the delivery that caused the intent described it, when it is known.</summary>
    public Conversation? Conversation { get; init; }

    /// <summary>A logger named after the action. Never log secrets or whole payloads.</summary>
    public required ILogger Logger { get; init; }

    /// <summary>Named clients configured by the host (for example with resilience); do not create HttpClient yourself.</summary>
    public required IHttpClientFactory HttpClientFactory { get; init; }

    /// <summary>
    /// The configured FreeScout connection (address, bot user), or <c>null</c> when none is configured. Call
    /// FreeScout through <c>HttpClientFactory.CreateClient(FreeScoutConnection.HttpClientName)</c>: that client
    /// sends the API key.
    /// </summary>
    public FreeScoutConnection? FreeScout { get; init; }

    /// <summary>The clock; use it instead of <see cref="DateTimeOffset.UtcNow"/>.</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>Cancelled when the attempt times out or the host stops.</summary>
    public CancellationToken CancellationToken { get; init; }
}
