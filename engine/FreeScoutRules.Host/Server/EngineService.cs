using FreeScoutRules.Engine.Dispatch;
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
    RuleSetHolder rules,
    IOptions<RulesOptions> rulesOptions,
    ILogger<EngineService> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _writerLoop = Task.CompletedTask;
    private Task _dispatcherLoop = Task.CompletedTask;

    public bool IsRunning { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await database.InitializeAsync(cancellationToken);
        LogDatabase(logger, database.Path);
        var directory = rulesOptions.Value.Directory;
        try
        {
            var generation = RuleSetCompiler.Compile(directory);
            rules.Set(generation);
            foreach (var warning in generation.Warnings)
            {
                LogRuleWarning(logger, warning.ToString());
            }

            LogRulesLoaded(logger, generation.Rules.Count, Path.GetFullPath(directory), generation.ContentHash[..12]);
        }
        catch (RuleCompilationException ex)
        {
            throw new InvalidOperationException(
                $"The rules in {Path.GetFullPath(directory)} do not compile:{Environment.NewLine}{ex.Message}", ex);
        }

        _writerLoop = writer.RunAsync(CancellationToken.None);
        await dispatcher.RecoverAsync(cancellationToken);
        _dispatcherLoop = dispatcher.RunAsync(_stopping.Token);
        IsRunning = true;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        IsRunning = false;
        await _stopping.CancelAsync();
        await _dispatcherLoop.WaitAsync(cancellationToken);
        writer.Complete();
        await _writerLoop.WaitAsync(cancellationToken);
    }

    public void Dispose() => _stopping.Dispose();

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Database {Path}")]
    private static partial void LogDatabase(ILogger logger, string path);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Loaded {Count} rules from {Directory} (generation {Hash})")]
    private static partial void LogRulesLoaded(ILogger logger, int count, string directory, string hash);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "{Diagnostic}")]
    private static partial void LogRuleWarning(ILogger logger, string diagnostic);
}
