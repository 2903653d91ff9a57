namespace FreeScoutRules.Engine.Storage;

/// <summary>The store could not read or write (disk full, locked, corrupt, unreachable, stopping…). Nothing of the failed write was kept.</summary>
internal sealed class StorageException(string message, Exception inner, bool stopping = false) : Exception(message, inner)
{
    /// <summary>The store is stopping (the process shuts down) and takes no more writes: try again later, elsewhere.</summary>
    public bool Stopping { get; } = stopping;
}
