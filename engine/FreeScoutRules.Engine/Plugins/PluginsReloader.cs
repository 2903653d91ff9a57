using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Plugins;

/// <summary>
/// Adding, replacing or removing a plugin takes effect without a restart: a watcher on the plugins
/// folder (debounced, since copying a plugin folder takes several writes) loads the whole folder again
/// in new load contexts, puts the new set in force atomically and unloads the old one; attempts still
/// running on an old plugin finish first. Thread-safe.
/// </summary>
internal sealed partial class PluginsReloader(
    string directory, PluginSetHolder holder, TimeProvider time, ILogger<PluginsReloader> logger) : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0);
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;

    /// <summary>Raised after the folder was loaded again (not at start): what the rules are checked against may have changed.</summary>
    public event Action? Reloaded;

    /// <summary>Quiet time after the last file event before reloading. Default 500 ms.</summary>
    public TimeSpan Debounce { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Loads the built-in plugins and the folder, and puts them in force.</summary>
    public PluginSet Load()
    {
        var loaded = PluginLoader.Load(PluginLoader.BuiltInDirectory, directory);
        holder.Set(loaded)?.Unload();
        LogLoaded(logger, loaded.Handlers.Count, Path.GetFullPath(directory), string.Join(", ", loaded.Handlers.Keys.Order(StringComparer.Ordinal)));
        foreach (var problem in loaded.Problems)
        {
            LogProblem(logger, problem.ToString());
        }

        return loaded;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _debounce = time.CreateTimer(_ => _signal.Release(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var retry = false;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (_watcher is null && Directory.Exists(directory))
                {
                    _watcher = new FileSystemWatcher(directory) { IncludeSubdirectories = true, EnableRaisingEvents = true };
                    _watcher.Changed += (_, _) => Poke();
                    _watcher.Created += (_, _) => Poke();
                    _watcher.Deleted += (_, _) => Poke();
                    _watcher.Renamed += (_, _) => Poke();
                    _watcher.Error += (_, _) => Poke();
                }

                if (await _signal.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken) || retry)
                {
                    try
                    {
                        Load();
                        retry = false;
                        Reloaded?.Invoke();
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        // A folder changing under us (a plugin being copied): the plugins in force stay; try again shortly.
                        LogReloadFailed(logger, ex);
                        retry = true;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void Poke() => _debounce?.Change(Debounce, Timeout.InfiniteTimeSpan);

    public void Dispose()
    {
        _watcher?.Dispose();
        _debounce?.Dispose();
        _signal.Dispose();
    }

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Loaded {Count} actions from the built-in plugins and {Directory}: {Actions}")]
    private static partial void LogLoaded(ILogger logger, int count, string directory, string actions);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "The plugins folder could not be read; the plugins in force stay and it is read again in 5 s")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Error, Message = "Plugin not loaded: {Problem}")]
    private static partial void LogProblem(ILogger logger, string problem);
}
