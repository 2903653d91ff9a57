namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// The data directory is the server's alone (the database holds every delivery's body, <c>console-keys/</c> the keys
/// that sign the console's cookies): on Linux and macOS the directory and its subdirectories are created 0700 and its
/// files 0600 whatever the process' umask (<see cref="FileStreamOptions.UnixCreateMode"/>), and <see cref="Tighten(string)"/> takes the group's and
/// others' bits off what an earlier release or another umask left. SQLite creates <c>-wal</c> and <c>-shm</c> with the
/// mode of the database file, so a database created 0600 keeps them 0600 too. Nothing is done on Windows (ACLs).
/// </summary>
internal static class PrivateFiles
{
    /// <summary>rwx for the owner only.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>rw for the owner only.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode GroupAndOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute
        | UnixFileMode.SetGroup | UnixFileMode.SetUser | UnixFileMode.StickyBit;

    /// <summary>Creates <paramref name="path"/> (and its missing parents) 0700; an existing one is left as it is.</summary>
    public static DirectoryInfo CreateDirectory(string path) =>
        OperatingSystem.IsWindows() ? Directory.CreateDirectory(path) : Directory.CreateDirectory(path, DirectoryMode);

    /// <summary>Creates the empty file <paramref name="path"/> 0600 unless it exists (SQLite opens an empty file as a new database).</summary>
    public static void CreateFile(string path)
    {
        try
        {
            using var file = new FileStream(path, Options(System.IO.FileMode.CreateNew));
        }
        catch (IOException) when (File.Exists(path))
        {
            // there already: Tighten at start sees to its mode
        }
    }

    /// <summary>Options that create a file 0600 (write access, the given mode).</summary>
    public static FileStreamOptions Options(FileMode mode) => OperatingSystem.IsWindows()
        ? new FileStreamOptions { Mode = mode, Access = FileAccess.Write }
        : new FileStreamOptions { Mode = mode, Access = FileAccess.Write, UnixCreateMode = FileMode };

    /// <summary>
    /// Takes the group's and others' bits off <paramref name="directory"/> and everything in it (symbolic links are not
    /// followed); returns the paths changed. Missing: nothing to do.
    /// </summary>
    public static IReadOnlyList<string> Tighten(string directory)
    {
        var changed = new List<string>();
        if (OperatingSystem.IsWindows() || !Directory.Exists(directory))
        {
            return changed;
        }

        var root = new DirectoryInfo(directory);
        Tighten(root, changed);
        foreach (var entry in root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            Tighten(entry, changed);
        }

        return changed;
    }

    private static void Tighten(FileSystemInfo entry, List<string> changed)
    {
        if (OperatingSystem.IsWindows() || entry.LinkTarget is not null)
        {
            return;
        }

        var mode = entry.UnixFileMode;
        if ((mode & GroupAndOthers) != 0)
        {
            entry.UnixFileMode = mode & ~GroupAndOthers;
            changed.Add(entry.FullName);
        }
    }
}
