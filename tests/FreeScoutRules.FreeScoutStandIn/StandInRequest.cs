namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>One request the stand-in received (control requests under <c>/_standin/</c> are not recorded).</summary>
/// <param name="ReceivedAt">When it arrived (UTC).</param>
/// <param name="Method">HTTP method.</param>
/// <param name="Path">Path, e.g. <c>/api/conversations</c>.</param>
/// <param name="QueryString">Query string with its leading <c>?</c>, or "".</param>
/// <param name="ApiKey">The <c>X-FreeScout-API-Key</c> header, or <see langword="null"/> when absent (a key passed as <c>?api_key=</c> is in <paramref name="QueryString"/>).</param>
/// <param name="Status">The status answered; 0 when the connection was aborted (<see cref="FreeScoutStandIn.Down"/>) or the client went away.</param>
public sealed record StandInRequest(DateTimeOffset ReceivedAt, string Method, string Path, string QueryString, string? ApiKey, int Status);
