using System.Diagnostics;
using System.Globalization;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Actions;

/// <summary>
/// Executes the outbox: every intent committed with its delivery runs through the plugin that
/// provides its action, at least once, with a timeout per attempt, exponential backoff with jitter
/// between attempts, and a dead letter after the last one or a permanent failure. Every attempt is
/// recorded. Nothing is marked running in the database, so an attempt cut short by a crash simply
/// runs again after the restart, with the same idempotency key. Never blocks ingestion or dispatch:
/// it only reads the outbox and writes attempt records through the single writer. Thread-safe.
/// </summary>
internal sealed partial class ActionRunner(
    IOutbox outbox,
    PluginSetHolder plugins,
    IHttpClientFactory httpClientFactory,
    ActionsOptions options,
    TimeProvider time,
    ILoggerFactory loggerFactory,
    EngineMetrics? metrics = null,
    SecretStore? secrets = null,
    FreeScoutRules.FreeScout.FreeScoutConnection? freeScout = null)
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<ActionRunner>();
    private readonly Parsing.DeliveryParser _parser = new(new Parsing.DeliveryParserOptions { AcceptCustomEvents = true, AcceptReconciled = true });
    private readonly HashSet<long> _running = [];
    private readonly Lock _gate = new();

    private static readonly SecretStore NoSecrets = new(null);

    /// <summary>The idempotency key of an intent: the same for every attempt, across restarts.</summary>
    public static string IdempotencyKey(long intentId) => "fsr-intent-" + intentId.ToString(CultureInfo.InvariantCulture);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var slots = new SemaphoreSlim(options.Concurrency);
        var attempts = new List<Task>();
        using var timer = new PeriodicTimer(options.PollInterval, time);
        try
        {
            do
            {
                IReadOnlyList<DueIntent> due;
                HashSet<long> running;
                lock (_gate)
                {
                    running = [.. _running];
                }

                try
                {
                    var unordered = plugins.Current.Handlers.Values.Where(h => !h.OrderedPerConversation).Select(h => h.Name).ToHashSet(StringComparer.Ordinal);
                    due = await outbox.DueAsync(time.GetUtcNow(), options.Concurrency * 4, running, unordered, cancellationToken);
                }
                catch (StorageException ex)
                {
                    LogOutboxUnreadable(_logger, ex);
                    continue;
                }

                foreach (var intent in due)
                {
                    await slots.WaitAsync(cancellationToken);
                    lock (_gate)
                    {
                        _running.Add(intent.Id);
                    }

                    attempts.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await AttemptAsync(intent, cancellationToken);
                        }
                        finally
                        {
                            lock (_gate)
                            {
                                _running.Remove(intent.Id);
                            }

                            slots.Release();
                        }
                    }, CancellationToken.None));
                }

                attempts.RemoveAll(t => t.IsCompleted);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await Task.WhenAll(attempts);
    }

    private async Task AttemptAsync(DueIntent intent, CancellationToken stopping)
    {
        var attempt = intent.Attempts + 1;
        var sinceRetry = attempt - intent.RetryBase; // the limit and the backoff count from the last manual retry
        var started = time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        ActionResult result;
        var store = secrets ?? NoSecrets;
        var resolution = ResolveSecrets(store, intent);
        if (!plugins.Current.Handlers.TryGetValue(intent.Action, out var handler))
        {
            result = ActionResult.Retry($"No plugin provides the action '{intent.Action}'.");
        }
        else if (resolution.Arguments is not { } arguments)
        {
            // The rule put a secret there that the server does not have: the author's to fix, not worth retrying.
            result = resolution.Unknown.Count > 0
                ? ActionResult.Fail(
                    $"Unknown secret {string.Join(", ", resolution.Unknown.Select(n => $"'{n}'"))}: configure it as Secrets:{resolution.Unknown[0]} (environment Secrets__{resolution.Unknown[0]}), then retry the intent.")
                : ActionResult.Fail("The intent's secret places do not fit its arguments (was its row changed by hand?); record the intent again (re-run its delivery).");
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(options.Timeout);
            var context = new ActionContext
            {
                Intent = new ActionIntent(intent.Rule, intent.Action, intent.ConversationId, arguments),
                IdempotencyKey = IdempotencyKey(intent.Id),
                CarriesSecrets = resolution.CarriesSecrets,
                Attempt = attempt,
                Conversation = intent.Delivery?.Conversation((name, body) => _parser.Parse(name, body).Delivery?.Conversation),
                Logger = loggerFactory.CreateLogger("FreeScoutRules.Actions." + intent.Action),
                HttpClientFactory = httpClientFactory,
                FreeScout = freeScout,
                Time = time,
                CancellationToken = timeout.Token,
            };
            try
            {
                result = await handler.ExecuteAsync(context).AsTask().WaitAsync(options.Timeout + TimeSpan.FromSeconds(1), time, stopping);
            }
            catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && !stopping.IsCancellationRequested))
            {
                result = ActionResult.Retry($"Timed out after {options.Timeout.TotalSeconds:0.###} s.");
            }
            catch (OperationCanceledException)
            {
                return; // stopping: the attempt is not recorded and runs again after the restart
            }
            catch (Exception ex)
            {
                result = ActionResult.Retry($"The plugin threw {ex.GetType().Name}: {ex.Message}");
            }
        }

        // A plugin's answer may quote what it was given (a URL with a token): no secret value is kept.
        result = result with { Reason = store.Redact(result.Reason) };
        var duration = clock.Elapsed;
        var (state, next) = result.Outcome switch
        {
            ActionOutcome.Done => (IntentState.Done, (DateTimeOffset?)null),
            ActionOutcome.PermanentFailure => (IntentState.Dead, null),
            _ when sinceRetry >= options.MaxAttempts => (IntentState.Dead, null),
            _ => (IntentState.Pending, NextAttempt(options, started + duration, sinceRetry + 1, result.RetryAfter, Random.Shared.NextDouble())),
        };
        var outcome = result.Outcome switch
        {
            ActionOutcome.Done => AttemptOutcome.Done,
            ActionOutcome.PermanentFailure => AttemptOutcome.Failed,
            _ => AttemptOutcome.Retryable,
        };
        await outbox.RecordAttemptAsync(
            new AttemptCommit(intent.Id, attempt, started, duration, outcome, result.Reason, state, next), CancellationToken.None);
        metrics?.ActionAttempted(intent.Action, state == IntentState.Dead ? IntentState.Dead : outcome);
        if (state == IntentState.Dead)
        {
            LogDeadLetter(_logger, intent.Id, intent.Action, intent.Rule, intent.ConversationId, attempt, result.Reason ?? "");
        }
        else if (state == IntentState.Pending)
        {
            LogAttemptFailed(_logger, intent.Id, intent.Action, intent.Rule, intent.ConversationId, attempt, result.Reason ?? "", next!.Value);
        }
    }

    /// <summary>The intent's arguments with its secrets' values where the rule put them; no arguments when that cannot be done.</summary>
    private static SecretResolution ResolveSecrets(SecretStore store, DueIntent intent)
    {
        try
        {
            return store.Resolve(intent.Arguments, intent.SecretPlaces);
        }
        catch (FormatException)
        {
            return new SecretResolution(null, [], CarriesSecrets: true);
        }
    }

    /// <summary>
    /// When attempt <paramref name="nextAttempt"/> may run: the backoff delay with ±20% jitter
    /// (<paramref name="random01"/> in [0, 1)), or the target's Retry-After when that is later.
    /// </summary>
    internal static DateTimeOffset NextAttempt(ActionsOptions options, DateTimeOffset now, int nextAttempt, TimeSpan? retryAfter, double random01)
    {
        var delay = options.DelayBefore(nextAttempt) * (0.8 + (random01 * 0.4));
        return now + (retryAfter is { } after && after > delay ? after : delay);
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Error, Message = "Action intent {IntentId} ({Action}, rule {Rule}, conversation {ConversationId}) is dead after attempt {Attempt}: {Reason}. Retry it once fixed: POST /api/actions/{IntentId}/retry")]
    private static partial void LogDeadLetter(ILogger logger, long intentId, string action, string rule, int conversationId, int attempt, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Action intent {IntentId} ({Action}, rule {Rule}, conversation {ConversationId}) attempt {Attempt} failed: {Reason}; next attempt at {NextAttempt:O}")]
    private static partial void LogAttemptFailed(ILogger logger, long intentId, string action, string rule, int conversationId, int attempt, string reason, DateTimeOffset nextAttempt);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "The outbox could not be read; trying again")]
    private static partial void LogOutboxUnreadable(ILogger logger, Exception exception);
}
