namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// The console's data-protection keys (what signs the sign-in cookie and the anti-forgery tokens), kept in a store that
/// several instances share (PostgreSQL), so that a sign-in on one instance is valid on every one. The keys arrive here
/// encrypted (the host encrypts them with <c>Console:KeyEncryptionKey</c>, which is never stored); the store keeps the
/// XML as given. Synchronous: ASP.NET Core's key repository is (it reads rarely: at start, and when the ring is refreshed).
/// The embedded SQLite store does not implement it: one process, its keys in its data directory. Thread-safe.
/// </summary>
internal interface ISharedKeys
{
    /// <summary>Every key element stored, as XML text.</summary>
    IReadOnlyList<string> LoadKeys();

    /// <summary>Stores a key element under its name (a second store of one name keeps the first: keys never change).</summary>
    void StoreKey(string name, string xml);
}
