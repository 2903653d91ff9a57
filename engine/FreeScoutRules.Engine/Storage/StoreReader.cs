namespace FreeScoutRules.Engine.Storage;

/// <summary>A server's store opened for reading by a CLI verb (replay, explain, actions list): the ports it reads, nothing that writes.</summary>
internal sealed record StoreReader(string Location, IInbox Inbox, IDeliveryHistory History, IOutbox Outbox);

/// <summary>
/// The store is in use by another process that owns it alone (SQLite: its data directory's lock): this process cannot
/// open it for writing. Says which process, and what to do.
/// </summary>
internal sealed class StoreInUseException(string message, string location, int? holder) : InvalidOperationException(message)
{
    /// <summary>Where the store is (a data directory).</summary>
    public string Location { get; } = location;

    /// <summary>The process holding it, when known.</summary>
    public int? Holder { get; } = holder;
}
