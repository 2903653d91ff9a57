using System.Globalization;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// One process per SQLite database: the store holds an OS lock on <c>freescout-rules.lock</c> in its data directory
/// for as long as it is open for writing (an exclusive <see cref="FileStream"/>, which .NET takes with <c>flock</c> on
/// Linux and a share-none open on Windows; the OS drops it when the process ends, however it ends). The holder's
/// PID is written beside it (<c>freescout-rules.pid</c>; the locked file cannot be read by others) to name it.
/// Read-only opens (replay, explain, actions list) take no lock. Several processes on one shared database server
/// are another store's business.
/// </summary>
internal sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "freescout-rules.lock";
    public const string OwnerFileName = "freescout-rules.pid";

    /// <summary>
    /// What .NET puts in an IOException's HResult for a lock another process has: the errno of the refused
    /// <c>flock</c> on Linux (EWOULDBLOCK, 11) and macOS (35), ERROR_SHARING_VIOLATION (32) on Windows.
    /// </summary>
    private static bool HeldElsewhere(IOException exception) =>
        exception.GetType() == typeof(IOException) && (exception.HResult & 0xFFFF) is 11 or 35 or 32;

    private readonly FileStream _lock;
    private readonly string _owner;

    private DataDirectoryLock(FileStream stream, string owner)
    {
        _lock = stream;
        _owner = owner;
    }

    /// <exception cref="StoreInUseException">Another process holds it.</exception>
    public static DataDirectoryLock Acquire(string directory)
    {
        var full = Path.GetFullPath(directory);
        PrivateFiles.CreateDirectory(full);
        FileStream stream;
        try
        {
            var options = PrivateFiles.Options(FileMode.OpenOrCreate);
            options.Access = FileAccess.ReadWrite;
            options.Share = FileShare.None;
            stream = new FileStream(Path.Combine(full, FileName), options);
        }
        catch (IOException ex) when (HeldElsewhere(ex))
        {
            // Held by another process (flock refused); other I/O errors (a read-only disk) say what they are.
            throw DataDirectoryInUse.Exception(full, Holder(full));
        }

        var owner = Path.Combine(full, OwnerFileName);
        try
        {
            using var pid = new FileStream(owner, PrivateFiles.Options(FileMode.Create));
            pid.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture)));
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        return new DataDirectoryLock(stream, owner);
    }

    /// <summary>The PID the holder wrote, when it can be read.</summary>
    private static int? Holder(string directory)
    {
        try
        {
            return int.TryParse(File.ReadAllText(Path.Combine(directory, OwnerFileName)), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        try
        {
            File.Delete(_owner);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // the next holder writes its own
        }

        _lock.Dispose();
    }
}

/// <summary>The data directory is locked by another process: one line that names it and the holder.</summary>
internal static class DataDirectoryInUse
{
    /// <summary>The refusal of a data directory another process holds: which, and what to do.</summary>
    public static StoreInUseException Exception(string directory, int? holder) => new(
        $"The data directory {directory} is in use by another freescout-rules process{(holder is { } pid ? $" (PID {pid})" : "")}: one process per SQLite database. "
        + "Stop that one, or give this one another --data-dir. Read-only verbs (replay, explain, actions list) work beside it; actions retry and deliveries rerun go through its admin API.",
        directory, holder);
}
