using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using FreeScoutRules.Engine.Storage;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.OperatorConsole;

/// <summary>
/// The console's data-protection keys in a store the instances share (PostgreSQL: <see cref="ISharedKeys"/>), so that a
/// sign-in on one instance is valid on every one behind a load balancer. ASP.NET Core's key repository, over the store.
/// </summary>
internal sealed class SharedKeyRepository(ISharedKeys keys) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements() => [.. keys.LoadKeys().Select(XElement.Parse)];

    public void StoreElement(XElement element, string friendlyName)
    {
        ArgumentNullException.ThrowIfNull(element);
        keys.StoreKey(friendlyName, element.ToString(SaveOptions.DisableFormatting));
    }
}

/// <summary>
/// Encrypts each key before it is stored: AES-256-GCM with a key derived (HKDF-SHA256) from <c>Console:KeyEncryptionKey</c>,
/// which lives in configuration and is never stored beside the keys, so that reading the database does not let anyone
/// forge a sign-in. ASP.NET Core ships encryptors for certificates, DPAPI and Windows only; this one is ours because the
/// key must come from configuration on Linux. Each encryption has its own random nonce; the key's name in the XML is
/// authenticated with it.
/// </summary>
internal sealed class ConsoleKeyEncryptor(byte[] key) : IXmlEncryptor
{
    internal static readonly XNamespace Namespace = "urn:freescout-rules:console-keys";

    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        ArgumentNullException.ThrowIfNull(plaintextElement);
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var sealedBytes = new byte[NonceBytes + plaintext.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(key, TagBytes))
        {
            aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(NonceBytes, plaintext.Length), sealedBytes.AsSpan(NonceBytes + plaintext.Length), Associated);
        }

        CryptographicOperations.ZeroMemory(plaintext);
        return new EncryptedXmlInfo(
            new XElement(Namespace + "encrypted", new XAttribute("algorithm", "AES-256-GCM/HKDF-SHA256"), Convert.ToBase64String(sealedBytes)),
            typeof(ConsoleKeyDecryptor));
    }

    /// <summary>Bound into every encryption: what the bytes are, and the format's version.</summary>
    internal static byte[] Associated { get; } = Encoding.ASCII.GetBytes("freescout-rules console key v1");

    /// <summary>The AES-256 key for <paramref name="secret"/> (<c>Console:KeyEncryptionKey</c>).</summary>
    public static byte[] Derive(string secret) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, salt: [], info: Associated);

    internal static XElement Decrypt(XElement encryptedElement, byte[] key)
    {
        var sealedBytes = Convert.FromBase64String(encryptedElement.Value);
        if (sealedBytes.Length < NonceBytes + TagBytes)
        {
            throw new CryptographicException("A console key in the database is not one this server encrypted.");
        }

        var plaintext = new byte[sealedBytes.Length - NonceBytes - TagBytes];
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, plaintext.Length), sealedBytes.AsSpan(NonceBytes + plaintext.Length), plaintext, Associated);
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new CryptographicException(
                "A console key in the database was encrypted with another Console:KeyEncryptionKey (or changed): give every instance the same key.", ex);
        }

        return XElement.Parse(Encoding.UTF8.GetString(plaintext));
    }
}

/// <summary>Decrypts what <see cref="ConsoleKeyEncryptor"/> encrypted; ASP.NET Core activates it by type, with the services.</summary>
internal sealed class ConsoleKeyDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        ArgumentNullException.ThrowIfNull(encryptedElement);
        var secret = services.GetRequiredService<IOptions<Settings.ConsoleOptions>>().Value.KeyEncryptionKey
            ?? throw new CryptographicException("The console keys in the database are encrypted, and Console:KeyEncryptionKey is not set.");
        return ConsoleKeyEncryptor.Decrypt(encryptedElement, ConsoleKeyEncryptor.Derive(secret));
    }
}
