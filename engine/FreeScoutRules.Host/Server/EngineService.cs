using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// Starts the engine before the server listens: creates or migrates the database, compiles the
/// rules (a rules folder that does not compile stops the start with its diagnostics), starts the
/// single writer and queues what a previous run left unprocessed; then runs the dispatcher. On stop,
/// finishes what is being processed and commits what is queued.
/// </summary>
internal sealed partial class EngineService(
    SqliteDatabase database,
    InboxWriter writer,
    Dispatcher dispatcher,
    RulesReloader reloader,
    PluginsReloader plugins,
    ActionRunner actions,
    ILogger<EngineService> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _writerLoop = Task.CompletedTask;
    private Task _dispatcherLoop = Task.CompletedTask;
    private Task _reloadLoop = Task.CompletedTask;
    private Task _actionLoop = Task.CompletedTask;
    private Task _pluginLoop = Task.CompletedTask;

    public bool IsRunning { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await database.InitializeAsync(cancellationToken);
        LogDatabase(logger, database.Path);
        _writerLoop = writer.RunAsync(CancellationToken.None);
        plugins.Load(); // first: the rules are checked against the actions the plugins provide (FSR0003)
        try
        {
            await reloader.LoadInitialAsync(cancellationToken);
        }
        catch (RuleCompilationException ex)
        {
            writer.Complete();
            await _writerLoop;
            throw new InvalidOperationException($"The rules do not compile:{Environment.NewLine}{ex.Message}", ex);
        }

        _reloadLoop = reloader.RunAsync(_stopping.Token);
        _actionLoop = actions.RunAsync(_stopping.Token);
        _pluginLoop = plugins.RunAsync(_stopping.Token);
        await dispatcher.RecoverAsync(cancellationToken);
        _dispatcherLoop = dispatcher.RunAsync(_stopping.Token);
        IsRunning = true;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        IsRunning = false;
        await _stopping.CancelAsync();
        try
        {
            // A rule that never returns holds its worker forever: stop without it after a while.
            await _dispatcherLoop.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (TimeoutException)
        {
            LogAbandoned(logger);
        }

        await _reloadLoop.WaitAsync(cancellationToken);
        await _actionLoop.WaitAsync(cancellationToken);
        await _pluginLoop.WaitAsync(cancellationToken);
        writer.Complete();
        await _writerLoop.WaitAsync(cancellationToken);
    }

    public void Dispose() => _stopping.Dispose();

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Stopping while a rule evaluation still runs (see the watchdog); its delivery stays pending and runs again at the next start")]
    private static partial void LogAbandoned(ILogger logger);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Database {Path}")]
    private static partial void LogDatabase(ILogger logger, string path);
}
