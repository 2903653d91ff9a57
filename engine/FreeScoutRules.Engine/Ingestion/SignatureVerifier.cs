using System.Security.Cryptography;
using System.Text;

namespace FreeScoutRules.Engine.Ingestion;

/// <summary>
/// Verifies <c>X-FreeScout-Signature</c> = base64(HMAC-SHA1(secret, raw body)) over the raw bytes,
/// never re-serialised JSON (PHP escapes differ), comparing in constant time. Thread-safe.
/// </summary>
internal sealed class SignatureVerifier
{
    private readonly byte[] _key;

    public SignatureVerifier(string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        _key = Encoding.UTF8.GetBytes(secret.Trim());
    }

    /// <summary>The signature FreeScout would send for <paramref name="body"/>: base64(HMAC-SHA1(secret, body)).</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
#pragma warning disable CA5350 // HMAC-SHA1 is what FreeScout signs with.
        return Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret.Trim()), body));
#pragma warning restore CA5350
    }

    public bool IsValid(ReadOnlySpan<byte> body, string? signature)
    {
        if (string.IsNullOrWhiteSpace(signature))
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[HMACSHA1.HashSizeInBytes];
#pragma warning disable CA5350 // HMAC-SHA1 is what FreeScout signs with; we verify, we do not choose.
        HMACSHA1.HashData(_key, body, expected);
#pragma warning restore CA5350
        Span<byte> given = stackalloc byte[64];
        return Convert.TryFromBase64String(signature.Trim(), given, out var length)
            && CryptographicOperations.FixedTimeEquals(expected, given[..length]);
    }
}
