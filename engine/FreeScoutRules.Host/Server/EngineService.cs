using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Supervision;
using FreeScoutRules.Engine.Telemetry;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// Starts the engine before the server listens: creates or migrates the database, compiles the
/// rules (a rules folder that does not compile stops the start with its diagnostics), starts the
/// single writer and joins the store as an instance (its lease renewed from then on); then runs the
/// dispatcher, whose first sweep claims what a previous run left unprocessed (no separate recovery). Every
/// background loop runs under the <see cref="LoopSupervisor"/>: the writer and the dispatcher stop the
/// process when they fail, the others restart with backoff. On stop, finishes what is being processed,
/// leaves (its claims are free at once) and commits what is queued.
/// </summary>
internal sealed partial class EngineService(
    IStorageLifetime storage,
    Dispatcher dispatcher,
    Watchdog watchdog,
    RulesReloader reloader,
    PluginsReloader plugins,
    ActionRunner actions,
    StorageGauges gauges,
    Engine.Retention.Pruner pruner,
    Engine.Timers.TimerLoop timers,
    Engine.Reconciliation.Reconciler reconciler,
    Engine.Instances.InstanceLeaseKeeper instance,
    Microsoft.Extensions.Options.IOptions<Engine.FreeScoutApi.FreeScoutOptions> freeScout,
    RuleSetHolder rules,
    EngineMetrics metrics,
    LoopSupervisor supervisor,
    IHostApplicationLifetime lifetime,
    ILogger<EngineService> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _writerLoop = Task.CompletedTask;
    private Task _dispatcherLoop = Task.CompletedTask;
    private Task[] _otherLoops = [];
    private CancellationTokenRegistration _fatal;

    public bool IsRunning { get; private set; }

    private Task? _prepared;

    /// <summary>
    /// What must succeed before anything else starts: the data directory's lock and the schema, the writer, the plugins
    /// and the rules. <c>serve</c> calls it before the host starts, so that a data directory in use or rules that do not
    /// compile stop the start in one message, without the host's stack trace; <see cref="StartAsync"/> then goes on from
    /// there (and calls it itself where nobody did). Once.
    /// </summary>
    /// <exception cref="Engine.Storage.StoreInUseException">Another process has the store (SQLite: its data directory).</exception>
    /// <exception cref="InvalidOperationException">The rules do not compile (the inner exception has the diagnostics).</exception>
    public Task PrepareAsync(CancellationToken cancellationToken) => _prepared ??= PrepareOnceAsync(cancellationToken);

    private async Task PrepareOnceAsync(CancellationToken cancellationToken)
    {
        await storage.InitializeAsync(cancellationToken);
        LogDatabase(logger, storage.Location);
        _fatal = supervisor.Fatal.Register(lifetime.StopApplication);
        _writerLoop = supervisor.Run("writer", _ => storage.RunAsync(CancellationToken.None), LoopFailurePolicy.StopProcess, _stopping.Token);
        plugins.Load(); // first: the rules are checked against the actions the plugins provide (FSR0003)
        plugins.Reloaded += reloader.Recheck; // and again when they change
        try
        {
            await reloader.LoadInitialAsync(cancellationToken);
        }
        catch (RuleCompilationException ex)
        {
            await _stopping.CancelAsync();
            storage.Complete();
            await _writerLoop;
            throw new InvalidOperationException($"The rules do not compile:{Environment.NewLine}{ex.Message}", ex);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await PrepareAsync(cancellationToken);

        metrics.Prime(rules.Current.Rules.Select(r => r.Name));
        await instance.JoinAsync(Engine.Instances.InstanceLeaseKeeper.DefaultName, cancellationToken);
        _otherLoops =
        [
            supervisor.Run("instance-lease", instance.RunAsync, LoopFailurePolicy.Restart, _stopping.Token),
            supervisor.Run("rules-reloader", reloader.RunAsync, LoopFailurePolicy.Restart, _stopping.Token),
            supervisor.Run("action-runner", actions.RunAsync, LoopFailurePolicy.Restart, _stopping.Token),
            supervisor.Run("plugins-reloader", plugins.RunAsync, LoopFailurePolicy.Restart, _stopping.Token),
            supervisor.Run("watchdog", watchdog.RunAsync, LoopFailurePolicy.Restart, _stopping.Token),
            supervisor.Run("storage-gauges", gauges.RunAsync, LoopFailurePolicy.Restart, _stopping.Token),
            supervisor.Run("retention", pruner.RunAsync, LoopFailurePolicy.Restart, _stopping.Token),
        ];
        _dispatcherLoop = supervisor.Run("dispatcher", dispatcher.RunAsync, LoopFailurePolicy.StopProcess, _stopping.Token);
        _otherLoops = [.. _otherLoops, supervisor.Run("timers", timers.RunAsync, LoopFailurePolicy.Restart, _stopping.Token)];
        var reconcilingConfigured = freeScout.Value.Connection() is not null;
        metrics.PrimeReconciliation();
        await reconciler.LoadAsync(cancellationToken); // the watermark shows at once, not only once a pass ends
        if (reconciler.Status.Interval > TimeSpan.Zero)
        {
            // After recovery too: its first pass catches up from the watermark, behind what a previous run left.
            _otherLoops = [.. _otherLoops, supervisor.Run("reconciler", reconciler.RunAsync, LoopFailurePolicy.Restart, _stopping.Token)];
            LogReconciling(logger, reconciler.Status.Interval);
        }
        else if (reconcilingConfigured)
        {
            LogReconcilingOff(logger);
        }
        else
        {
            LogNotReconciling(logger);
        }

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

        await Task.WhenAll(_otherLoops).WaitAsync(cancellationToken);
        try
        {
            await instance.LeaveAsync(cancellationToken); // its claims are free at once, not when its lease would expire
        }
        catch (Exception ex) when (ex is Engine.Storage.StorageException or InvalidOperationException)
        {
            LogLeaveFailed(logger, ex);
        }

        storage.Complete();
        await _writerLoop.WaitAsync(cancellationToken);
    }

    public void Dispose()
    {
        _fatal.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Stopping while a rule evaluation still runs (see the watchdog); its delivery stays pending and runs again when its conversation is claimed next")]
    private static partial void LogAbandoned(ILogger logger);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "Reconciling with FreeScout's API every {Interval}")]
    private static partial void LogReconciling(ILogger logger, TimeSpan interval);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "Reconciliation with FreeScout's API is off (Reconciliation:Interval=00:00:00): a change whose webhook is lost is found only by `freescout-rules reconcile`")]
    private static partial void LogReconcilingOff(ILogger logger);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "Reconciliation with FreeScout's API is off (it needs FREESCOUTRULES_FREESCOUT_URL and FREESCOUTRULES_FREESCOUT_API_KEY; Reconciliation:Interval=00:00:00 switches it off): a change whose webhook is lost is not found")]
    private static partial void LogNotReconciling(ILogger logger);

    [LoggerMessage(EventId = 1017, Level = LogLevel.Warning, Message = "Could not leave the store at stop; this instance's claims are free once its lease expires")]
    private static partial void LogLeaveFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Database {Path}")]
    private static partial void LogDatabase(ILogger logger, string path);
}
