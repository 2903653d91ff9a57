namespace FreeScoutRules.Engine.Storage;

/// <summary>The store could not read or write (disk full, locked, corrupt…). Nothing of the failed write was kept.</summary>
internal sealed class StorageException(string message, Exception inner) : Exception(message, inner);
