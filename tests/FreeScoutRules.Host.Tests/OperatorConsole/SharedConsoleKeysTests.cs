using System.Security.Cryptography;
using System.Xml.Linq;
using FreeScoutRules.Host.OperatorConsole;

namespace FreeScoutRules.Host.Tests.OperatorConsole;

/// <summary>The console's keys as the instances share them in the database: encrypted with a key from configuration, which reading the rows does not give.</summary>
public sealed class SharedConsoleKeysTests
{
    private static readonly XElement Key = XElement.Parse("<key id=\"d1\"><descriptor><masterKey><value>c2VjcmV0LWtleS1tYXRlcmlhbA==</value></masterKey></descriptor></key>");

    [Fact]
    public void AKey_EncryptedWithTheConfiguredSecret_ReadsBackWithIt_AndShowsNothingOfIt()
    {
        var encrypted = new ConsoleKeyEncryptor(ConsoleKeyEncryptor.Derive("console-key-for-tests-0123456789abcdef")).Encrypt(Key);

        Assert.Equal(typeof(ConsoleKeyDecryptor), encrypted.DecryptorType);
        Assert.DoesNotContain("c2VjcmV0", encrypted.EncryptedElement.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("masterKey", encrypted.EncryptedElement.ToString(), StringComparison.Ordinal);
        var back = ConsoleKeyEncryptor.Decrypt(encrypted.EncryptedElement, ConsoleKeyEncryptor.Derive("console-key-for-tests-0123456789abcdef"));
        Assert.True(XNode.DeepEquals(Key, back));
    }

    [Fact]
    public void AKey_EncryptedTwice_DiffersEachTime()
    {
        var encryptor = new ConsoleKeyEncryptor(ConsoleKeyEncryptor.Derive("console-key-for-tests-0123456789abcdef"));

        Assert.NotEqual(encryptor.Encrypt(Key).EncryptedElement.Value, encryptor.Encrypt(Key).EncryptedElement.Value);
    }

    [Fact]
    public void AnotherSecret_OrAChangedByte_IsRefused_SayingWhatToDo()
    {
        var encrypted = new ConsoleKeyEncryptor(ConsoleKeyEncryptor.Derive("console-key-for-tests-0123456789abcdef")).Encrypt(Key).EncryptedElement;

        var other = Assert.Throws<CryptographicException>(() => ConsoleKeyEncryptor.Decrypt(encrypted, ConsoleKeyEncryptor.Derive("another-console-key-0123456789abcdefXY")));
        Assert.Equal("A console key in the database was encrypted with another Console:KeyEncryptionKey (or changed): give every instance the same key.", other.Message);

        var bytes = Convert.FromBase64String(encrypted.Value);
        bytes[20] ^= 1;
        var tampered = new XElement(encrypted.Name, encrypted.Attributes(), Convert.ToBase64String(bytes));
        Assert.Throws<CryptographicException>(() => ConsoleKeyEncryptor.Decrypt(tampered, ConsoleKeyEncryptor.Derive("console-key-for-tests-0123456789abcdef")));
    }
}
