namespace FreeScoutRules.FreeScout;

/// <summary>
/// The one configured connection to FreeScout's REST API (API &amp; Webhooks module), shared by the engine's
/// reconciler and the actions: its address, and the bot user actions write as. The API key is not here:
/// the host's named client <see cref="HttpClientName"/> sends it on every request (and never logs it), so
/// that no plugin has to hold the secret. Immutable.
/// </summary>
/// <param name="BaseAddress">FreeScout's address, e.g. https://support.example.com/ (the API is under <c>api/</c>).</param>
/// <param name="BotUserId">The FreeScout user the <c>freescout</c> action writes as, when configured.</param>
public sealed record FreeScoutConnection(Uri BaseAddress, int? BotUserId)
{
    /// <summary>
    /// The name of the <see cref="System.Net.Http.IHttpClientFactory"/> client for FreeScout: its base address is
    /// <see cref="BaseAddress"/>, it sends <c>X-FreeScout-API-Key</c>, and it has the host's resilience pipeline.
    /// </summary>
    public const string HttpClientName = "freescout";

    /// <summary>The address of an API path, e.g. <c>Api("conversations/17")</c>.</summary>
    public Uri Api(string path) => new(BaseAddress, "api/" + path.TrimStart('/'));
}
