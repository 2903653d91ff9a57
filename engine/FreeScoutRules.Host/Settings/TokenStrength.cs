namespace FreeScoutRules.Host.Settings;

/// <summary>
/// What a bearer token of this server (the admin token, the metrics token) must be to be accepted at start: at least
/// <see cref="MinimumLength"/> characters with at least <see cref="MinimumDistinct"/> different ones. A token that
/// fails is one someone typed (<c>aaaaaaaa…</c>, <c>changeme-changeme-…</c>), not a random one; <c>freescout-rules token</c>
/// prints a random one (256 bits, 43 characters). The messages name the setting, never the value.
/// </summary>
internal static class TokenStrength
{
    public const int MinimumLength = 32;

    /// <summary>
    /// Different characters a token must have: 32 random hex digits have about 14, 43 random base64url characters
    /// about 30; one character repeated, or a word repeated, has far fewer.
    /// </summary>
    public const int MinimumDistinct = 10;

    /// <summary>How to get a good one, for the messages.</summary>
    public const string Hint = "generate one with `freescout-rules token` (or `openssl rand -base64 32`)";

    /// <summary>Why <paramref name="token"/> is too weak, or <c>null</c> when it is strong enough.</summary>
    /// <param name="token">The configured token.</param>
    /// <param name="what">Names it in the message: <c>the admin token (FREESCOUTRULES_ADMIN_TOKEN)</c>.</param>
    public static string? Problem(string token, string what)
    {
        ArgumentNullException.ThrowIfNull(token);
        var distinct = token.Distinct().Count();
        if (token.Length < MinimumLength)
        {
            return $"{what} is {token.Length} characters long; it must be at least {MinimumLength}: {Hint}.";
        }

        return distinct < MinimumDistinct
            ? $"{what} has only {distinct} different character{(distinct == 1 ? "" : "s")}; a random one has at least {MinimumDistinct}: {Hint}."
            : null;
    }

    /// <summary>A new random token: 32 bytes from the system's cryptographic generator, base64url (43 characters, no padding).</summary>
    public static string Generate() => System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
}
