using System.Security.Cryptography;
using System.Text;

namespace FreeScoutRules.Host.Security;

/// <summary>The admin token check shared by the admin API (bearer) and the console's sign-in: constant time, whatever the lengths.</summary>
internal static class AdminToken
{
    /// <summary>True when <paramref name="given"/> is the configured token (never true when none is configured).</summary>
    public static bool Matches(string? given, string? configured) =>
        !string.IsNullOrEmpty(configured)
        && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given ?? "")), SHA256.HashData(Encoding.UTF8.GetBytes(configured)));

    /// <summary>The token of an <c>Authorization: Bearer …</c> header, or empty.</summary>
    public static string Bearer(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : "";
    }
}
