using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Rules;

/// <summary>What the last reload attempt said: when, which sources, and its diagnostics when it failed.</summary>
/// <param name="At">When it was attempted.</param>
/// <param name="ContentHash">The folder's content it compiled.</param>
/// <param name="Loaded">Whether it was put in force.</param>
/// <param name="Diagnostics">Its diagnostics, errors first.</param>
/// <param name="ChecksKey">What the rules were checked against (<see cref="RuleChecks.Key"/>): the plugins' actions and their configuration.</param>
internal sealed record ReloadReport(DateTimeOffset At, string ContentHash, bool Loaded, IReadOnlyList<RuleDiagnostic> Diagnostics, string ChecksKey = "");

/// <summary>
/// Hot reload of the rules folder. A <see cref="FileSystemWatcher"/> on the folder (helpers in
/// subfolders included) pokes a debounce timer, so an editor that writes a file in several steps
/// causes one compile; a slow poll covers events the watcher misses (a folder deleted and created
/// again). Compiles run one at a time in the background; a generation that compiles is put in force
/// atomically and the old one unloaded; one that does not is reported (log, metrics, admin API,
/// <c>rule_generations</c>) while the last good generation keeps running. The same rules are compiled again when what
/// they are checked against changes (a plugin added or removed, so FSR0003 and FSR0008 say what is true now): the plugins'
/// reloader asks (<see cref="Recheck"/>). Thread-safe.
/// </summary>
internal sealed partial class RulesReloader(
    string directory,
    RuleSetHolder holder,
    IRuleGenerationLog log,
    TimeProvider time,
    EngineMetrics metrics,
    ILogger<RulesReloader> logger,
    RuleCompileCache? cache = null,
    RuleDiagnosticSeverities? severities = null,
    Func<RuleChecks>? checks = null,
    bool folderOptional = false) : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Lock _gate = new();
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;
    private ReloadReport? _lastFailure;
    private int _recheckAsked;
    private DateTimeOffset _loadedAt;

    /// <summary>Quiet time after the last file event before compiling. Default 200 ms.</summary>
    public TimeSpan Debounce { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often the folder's content hash is checked even without file events. Default 5 s.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The most recent failed attempt since the generation in force was loaded, or <c>null</c>.</summary>
    public ReloadReport? LastFailure => Volatile.Read(ref _lastFailure);

    /// <summary>When the generation in force was loaded.</summary>
    public DateTimeOffset LoadedAt => _loadedAt;

    /// <summary>Compiles the folder and puts it in force; at start there is no last good generation, so a failure throws.</summary>
    /// <exception cref="RuleCompilationException">The rules do not compile.</exception>
    public async Task LoadInitialAsync(CancellationToken cancellationToken)
    {
        var generation = RuleSetCompiler.Compile(directory, cache, severities, checks?.Invoke(), folderOptional);
        holder.Set(generation);
        _loadedAt = time.GetUtcNow();
        await log.RecordAsync(generation.ContentHash, _loadedAt, true, generation.Rules.Count, null, cancellationToken);
        LogLoaded(logger, generation.Rules.Count, Path.GetFullPath(directory), generation.ContentHash[..12], generation.CacheHits);
        foreach (var warning in generation.Warnings)
        {
            LogWarning(logger, warning.ToString());
        }
    }

    /// <summary>Watches the folder and reloads on change until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _debounce = time.CreateTimer(_ => _signal.Release(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        TryWatch();
        await Task.Run(RuleSetCompiler.WarmUp, cancellationToken);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await _signal.WaitAsync(PollInterval, cancellationToken);
                try
                {
                    await ReloadIfChangedAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The folder changed under us (a file half written, a folder swapped): the rules in force
                    // stay, and the next change or poll reads it again.
                    LogUnreadable(logger, ex);
                }
                if (_watcher is null)
                {
                    TryWatch();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Asks for the rules to be checked again soon: what they are checked against may have changed (the plugins were
    /// reloaded). Only then is it compared (not at every poll: a plugin whose problems' text changed by itself would
    /// otherwise have the folder compiled again and again).
    /// </summary>
    public void Recheck()
    {
        Volatile.Write(ref _recheckAsked, 1);
        Poke();
    }

    /// <summary>
    /// Compiles the folder when its content differs from the generation in force (or from the last failure), or, when
    /// asked (<see cref="Recheck"/>), when what the rules are checked against does.
    /// </summary>
    internal async Task ReloadIfChangedAsync(CancellationToken cancellationToken)
    {
        var hash = RuleSetCompiler.HashDirectory(directory);
        var current = holder.Current;
        var asked = Interlocked.Exchange(ref _recheckAsked, 0) == 1;
        var against = hash != current.ContentHash || asked ? checks?.Invoke() : null;
        var checksKey = (against ?? RuleChecks.None).Key;
        var recheck = asked && hash == current.ContentHash && checksKey != current.ChecksKey;
        if (hash == current.ContentHash && !recheck)
        {
            if (!asked && LastFailure is { } standing && standing.ContentHash == current.ContentHash)
            {
                return; // the rules in force, checked again against the plugins, did not load: that stands until either changes
            }

            // Back to what runs (the change that did not compile undone): nothing is wrong any more, and the log says so,
            // as it said what was wrong.
            if (Interlocked.Exchange(ref _lastFailure, null) is { } undone)
            {
                LogBackToCurrent(logger, current.ContentHash[..12], undone.ContentHash[..12]);
            }

            return;
        }

        if (LastFailure is { } failed && failed.ContentHash == hash && failed.ChecksKey == checksKey)
        {
            return;
        }

        var at = time.GetUtcNow();
        try
        {
            var generation = RuleSetCompiler.Compile(directory, cache, severities, against, folderOptional);
            var previous = holder.Set(generation);
            _loadedAt = at;
            Volatile.Write(ref _lastFailure, null);
            previous?.Unload();
            metrics.RulesReloaded(loaded: true);
            metrics.PrimeRules(generation.Rules.Select(r => r.Name));
            if (recheck)
            {
                LogRechecked(logger, generation.ContentHash[..12], generation.Warnings.Count);
            }
            else
            {
                LogReloaded(logger, generation.Rules.Count, generation.ContentHash[..12], current.ContentHash[..12]);
            }

            foreach (var warning in generation.Warnings)
            {
                LogWarning(logger, warning.ToString());
            }

            if (!recheck)
            {
                await log.RecordAsync(generation.ContentHash, at, true, generation.Rules.Count, null, cancellationToken); // the same generation: recorded once
            }
        }
        catch (RuleCompilationException ex)
        {
            var diagnostics = ex.Diagnostics; // errors first
            Volatile.Write(ref _lastFailure, new ReloadReport(at, hash, false, diagnostics, checksKey));
            metrics.RulesReloaded(loaded: false);
            LogReloadFailed(logger, diagnostics.Count(d => d.IsError), current.ContentHash[..12], string.Join(Environment.NewLine, diagnostics));
            await log.RecordAsync(hash, at, false, 0, string.Join("\n", diagnostics), cancellationToken);
        }
    }

    private void TryWatch()
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        var watcher = new FileSystemWatcher(directory, "*.csx")
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
        };
        watcher.Changed += (_, _) => Poke();
        watcher.Created += (_, _) => Poke();
        watcher.Deleted += (_, _) => Poke();
        watcher.Renamed += (_, _) => Poke();
        watcher.Error += (_, _) => Rewatch();
        watcher.EnableRaisingEvents = true;
        lock (_gate)
        {
            _watcher?.Dispose();
            _watcher = watcher;
        }
    }

    private void Rewatch()
    {
        lock (_gate)
        {
            _watcher?.Dispose();
            _watcher = null;
        }

        Poke();
    }

    private void Poke() => _debounce?.Change(Debounce, Timeout.InfiniteTimeSpan);

    public void Dispose()
    {
        lock (_gate)
        {
            _watcher?.Dispose();
            _watcher = null;
        }

        _debounce?.Dispose();
        _signal.Dispose();
    }

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Loaded {Count} rules from {Directory} (generation {Hash}, {CacheHits} files from the compile cache)")]
    private static partial void LogLoaded(ILogger logger, int count, string directory, string hash, int cacheHits);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Information, Message = "Rules checked again against the actions the plugins now provide (generation {Hash}, the same files): {Warnings} warnings")]
    private static partial void LogRechecked(ILogger logger, string hash, int warnings);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "{Diagnostic}")]
    private static partial void LogWarning(ILogger logger, string diagnostic);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Rules reloaded: {Count} rules, generation {Hash} replaces {Previous}")]
    private static partial void LogReloaded(ILogger logger, int count, string hash, string previous);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "The rules folder could not be read; the rules in force stay and it is read again at the next change or poll")]
    private static partial void LogUnreadable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1019, Level = LogLevel.Information, Message = "The rules folder is back to generation {Current}, which kept running; the change that did not compile ({Failed}) is gone")]
    private static partial void LogBackToCurrent(ILogger logger, string current, string failed);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "The changed rules do not compile ({Errors} errors); generation {Current} keeps running:\n{Diagnostics}")]
    private static partial void LogReloadFailed(ILogger logger, int errors, string current, string diagnostics);
}
