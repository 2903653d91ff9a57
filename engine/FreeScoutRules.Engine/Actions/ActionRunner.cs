using System.Diagnostics;
using System.Threading.Channels;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace FreeScoutRules.Engine.Actions;

/// <summary>
/// Executes the outbox: every intent committed with its delivery runs through the plugin that
/// provides its action, at least once, with a timeout per attempt, exponential backoff with jitter
/// between attempts, and a dead letter after the last one or a permanent failure. Every attempt is
/// recorded. Intents are claimed from the store under this instance's lease (docs/design.md, "Actions"): an attempt
/// cut short by a crash runs again, with the same idempotency key, once the claim is free (the lease left or expired),
/// here after the restart or on another instance. Never blocks ingestion or dispatch: it claims and records through the
/// single writer. Thread-safe.
/// </summary>
/// <remarks>
/// Destinations are independent: order holds per conversation and destination (only the oldest pending intent of one is
/// claimable), and each destination has at most <see cref="ActionsOptions.PerDestination"/> attempts in flight out of
/// <see cref="ActionsOptions.Concurrency"/>, so a destination that fails or never answers holds back no other. The poll
/// loop claims only what has a slot and never waits for one: what finds none waits for the next poll (or is woken by an
/// attempt that ends).
/// An attempt whose record cannot be written is kept, logged and counted, and its record is written again with backoff;
/// its claim stays held meanwhile, so it is never re-sent silently, once per poll. A record refused because another
/// instance claimed the intent since (this one's lease had ended) is logged, counted and dropped: the other's attempt stands.
/// </remarks>
internal sealed partial class ActionRunner(
    IOutbox outbox,
    Func<InstanceLease> instance,
    PluginSetHolder plugins,
    IHttpClientFactory httpClientFactory,
    ActionsOptions options,
    TimeProvider time,
    ILoggerFactory loggerFactory,
    EngineMetrics? metrics = null,
    SecretStore? secrets = null,
    FreeScoutRules.FreeScout.FreeScoutConnection? freeScout = null)
{
    /// <summary>The longest wait between two tries at writing the record of an attempt.</summary>
    public static readonly TimeSpan MaxRecordDelay = TimeSpan.FromSeconds(30);

    private readonly ILogger _logger = loggerFactory.CreateLogger<ActionRunner>();
    private readonly Parsing.DeliveryParser _parser = new(new Parsing.DeliveryParserOptions { AcceptCustomEvents = true, AcceptReconciled = true });
    private readonly Lock _gate = new();

    // The slots are counted by hand rather than with System.Threading.RateLimiting's partitioned concurrency
    // limiter: the due query must leave out the destinations that are full, and a limiter cannot list them.

    /// <summary>
    /// Attempts in flight, by claim token (an intent taken over from this very process, after its lease was ended, may
    /// be in flight twice) → destination: each holds a slot of Concurrency and one of its destination's.
    /// </summary>
    private readonly Dictionary<string, string> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _inFlightPerDestination = new(StringComparer.Ordinal);

    /// <summary>Claims (tokens) whose attempt ran and whose record is not written yet: held, so not attempted again until it is.</summary>
    private readonly HashSet<string> _unrecorded = new(StringComparer.Ordinal);

    /// <summary>Every attempt task not seen finished; awaited when the runner stops. They never fault: each catches its own.</summary>
    private readonly List<Task> _attempts = [];

    /// <summary>Wakes the poll loop before its interval when an attempt ends while intents wait for a slot.</summary>
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private volatile bool _starved;

    /// <summary>Writing an attempt's record again after it failed: exponential backoff with jitter, from the poll interval up to <see cref="MaxRecordDelay"/>, until written or stopping.</summary>
    private readonly ResiliencePipeline _recordAgain = new ResiliencePipelineBuilder { TimeProvider = time }
        .AddRetry(new RetryStrategyOptions
        {
            // Every exception but OperationCanceledException (stopping) and a refusal (the claim is lost: writing again is no use).
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.PollInterval,
            MaxDelay = MaxRecordDelay,
            ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not OperationCanceledException and not ClaimLostException),
            OnRetry = _ =>
            {
                metrics?.StorageFailed("actions");
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    private static readonly SecretStore NoSecrets = new(null);

    /// <summary>Attempts in flight now, and intents waiting for the record of their last attempt to be written.</summary>
    public (int InFlight, int Unrecorded) Load
    {
        get
        {
            lock (_gate)
            {
                return (_inFlight.Count, _unrecorded.Count);
            }
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await PollAsync(cancellationToken);
                await NextPollAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        Task[] attempts;
        lock (_gate)
        {
            attempts = [.. _attempts];
        }

        await Task.WhenAll(attempts);
    }

    /// <summary>Claims the due intents that have a slot, their own destination's included, and starts them; never waits for one.</summary>
    private async Task PollAsync(CancellationToken cancellationToken)
    {
        IntentSlots slots;
        lock (_gate)
        {
            _attempts.RemoveAll(t => t.IsCompleted);
            // What this runner holds: any other claim of this instance is an orphan it takes again (one whose commit's answer
            // was lost, or that could not be given back), rather than leaving it to the end of this instance's lease.
            slots = new IntentSlots(
                options.Concurrency - _inFlight.Count, options.PerDestination, new Dictionary<string, int>(_inFlightPerDestination, StringComparer.Ordinal))
            {
                Held = [.. _inFlight.Keys, .. _unrecorded],
            };
        }

        if (slots.Limit <= 0)
        {
            _starved = true;
            return;
        }

        ClaimedIntents claimed;
        try
        {
            var unordered = plugins.Current.Handlers.Values.Where(h => !h.OrderedPerConversation).Select(h => h.Name).ToHashSet(StringComparer.Ordinal);
            claimed = await outbox.ClaimDueAsync(instance(), slots, unordered, cancellationToken);
        }
        catch (StorageException ex)
        {
            LogOutboxUnreadable(_logger, ex);
            return;
        }

        lock (_gate)
        {
            // Only this loop takes slots, and attempts only give theirs back since the slots were counted: everything
            // claimed has one.
            foreach (var intent in claimed.Intents)
            {
                _inFlight.Add(intent.Claim.Token, intent.Destination);
                _inFlightPerDestination[intent.Destination] = _inFlightPerDestination.GetValueOrDefault(intent.Destination) + 1;
                _attempts.Add(Task.Run(() => RunAttemptAsync(intent, cancellationToken), CancellationToken.None));
            }

            _starved = claimed.More;
            if (claimed.More && _inFlight.Count < options.Concurrency)
            {
                // Slots are left, and due intents were left out (a destination filled up on the way): ask again at once.
                _wake.Writer.TryWrite(true);
            }
        }
    }

    /// <summary>Waits for the poll interval, or less when an attempt ended while intents waited for a slot.</summary>
    private async Task NextPollAsync(CancellationToken cancellationToken)
    {
        using var interval = new CancellationTokenSource(options.PollInterval, time);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, interval.Token);
        try
        {
            await _wake.Reader.ReadAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One attempt of <paramref name="intent"/>, recorded; ends without an exception, whatever happens.</summary>
    private async Task RunAttemptAsync(DueIntent intent, CancellationToken stopping)
    {
        var holdsSlot = true;
        try
        {
            if (await AttemptAsync(intent, stopping) is not { } attempt)
            {
                // Stopping: not recorded; the claim goes back, so that it runs again (same key) without waiting for the lease.
                await GiveBackAsync(intent);
                return;
            }

            try
            {
                await outbox.RecordAttemptAsync(attempt.Commit, CancellationToken.None);
            }
            catch (ClaimLostException ex)
            {
                Dropped(intent, attempt.Commit, ex);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Nothing is being sent any more: the slot goes, but the claim stays held until its attempt is on record.
                lock (_gate)
                {
                    _unrecorded.Add(intent.Claim.Token);
                    Release(intent);
                    holdsSlot = false;
                }

                metrics?.StorageFailed("actions");
                metrics?.ActionUnrecorded();
                LogAttemptUnrecorded(_logger, ex, intent.Id, intent.Action, intent.Rule, intent.ConversationId, attempt.Commit.Attempt, attempt.Commit.Outcome, intent.IdempotencyKey);
                if (!await RecordAgainAsync(intent, attempt.Commit, stopping))
                {
                    return;
                }
            }

            Report(intent, attempt);
        }
        catch (Exception ex)
        {
            // A bug of the runner's own: the intent stays pending as it was, its claim given back; the next poll attempts it again.
            LogAttemptCrashed(_logger, ex, intent.Id, intent.Action, intent.ConversationId);
            await GiveBackAsync(intent);
        }
        finally
        {
            lock (_gate)
            {
                if (holdsSlot)
                {
                    Release(intent);
                }

                _unrecorded.Remove(intent.Claim.Token);
            }

            if (_starved)
            {
                _wake.Writer.TryWrite(true);
            }
        }
    }

    /// <summary>Frees the slots of <paramref name="intent"/>'s attempt. Under <see cref="_gate"/>.</summary>
    private void Release(DueIntent intent)
    {
        if (_inFlight.Remove(intent.Claim.Token, out var destination))
        {
            if (_inFlightPerDestination[destination] <= 1)
            {
                _inFlightPerDestination.Remove(destination);
            }
            else
            {
                _inFlightPerDestination[destination]--;
            }
        }
    }

    /// <summary>
    /// Gives the claim of an attempt that did not run to its record back; when that fails, the claim is an orphan of this
    /// instance, which takes it again at a later poll (<see cref="IntentSlots.Held"/>).
    /// </summary>
    private async Task GiveBackAsync(DueIntent intent)
    {
        try
        {
            await outbox.ReleaseAsync(intent.Claim, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // The store failing, or stopped already: the lease's end frees the claim.
            LogClaimKept(_logger, ex, intent.Id);
        }
    }

    /// <summary>An attempt whose record was refused: another instance claimed the intent since, and its attempt stands.</summary>
    private void Dropped(DueIntent intent, AttemptCommit commit, ClaimLostException lost)
    {
        metrics?.ClaimLost("intent");
        LogClaimLost(_logger, intent.Id, intent.Action, intent.ConversationId, commit.Attempt, commit.Outcome, intent.IdempotencyKey, lost.Message);
    }

    /// <summary>
    /// Writes <paramref name="commit"/> again with backoff until it is written (true), refused because the claim is lost
    /// (false, dropped), or the runner stops (false).
    /// </summary>
    private async Task<bool> RecordAgainAsync(DueIntent intent, AttemptCommit commit, CancellationToken stopping)
    {
        var tries = 1;
        try
        {
            await _recordAgain.ExecuteAsync(
                async token =>
                {
                    tries++;
                    await outbox.RecordAttemptAsync(commit, token);
                },
                stopping);
            LogAttemptRecordedLate(_logger, intent.Id, commit.Attempt, tries);
            return true;
        }
        catch (ClaimLostException ex)
        {
            Dropped(intent, commit, ex);
            return false;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            LogUnrecordedAtStop(_logger, intent.Id, intent.Action, commit.Attempt, intent.IdempotencyKey);
            return false;
        }
    }

    /// <summary>What an attempt ended with: its record, and the plugin's answer.</summary>
    private sealed record Attempted(AttemptCommit Commit, ActionResult Result);

    /// <summary>Counts and logs an attempt once it is on record.</summary>
    private void Report(DueIntent intent, Attempted attempt)
    {
        var (commit, result) = attempt;
        metrics?.ActionAttempted(intent.Action, commit.NewState == IntentState.Dead ? IntentState.Dead : commit.Outcome);
        if (commit.NewState == IntentState.Dead)
        {
            LogDeadLetter(_logger, intent.Id, intent.Action, intent.Rule, intent.ConversationId, commit.Attempt, result.Reason ?? "");
        }
        else if (commit.NewState == IntentState.Pending)
        {
            LogAttemptFailed(_logger, intent.Id, intent.Action, intent.Rule, intent.ConversationId, commit.Attempt, result.Reason ?? "", commit.NextAttemptAt!.Value);
        }
    }

    /// <summary>Runs one attempt; <c>null</c> when the runner is stopping (the attempt is not recorded and runs again after the restart).</summary>
    private async Task<Attempted?> AttemptAsync(DueIntent intent, CancellationToken stopping)
    {
        var attempt = intent.Attempts + 1;
        var sinceRetry = attempt - intent.RetryBase; // the limit and the backoff count from the last manual retry
        var started = time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        ActionResult result;
        var store = secrets ?? NoSecrets;
        var resolution = store.ResolveForAttempt(intent.Arguments, intent.SecretPlaces);
        var (snapshot, unreadable) = Snapshot(intent);
        if (!plugins.Current.Handlers.TryGetValue(intent.Action, out var handler))
        {
            result = ActionResult.Retry($"No plugin provides the action '{intent.Action}'.");
        }
        else if (unreadable is not null)
        {
            result = ActionResult.Retry($"The body of delivery {intent.DeliveryId} could not be read from the store: {unreadable}");
        }
        else if (resolution.Arguments is not { } arguments)
        {
            // The rule put a secret there that the server does not have: the author's to fix, not worth retrying.
            result = ActionResult.Fail(resolution.Refusal!);
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(options.Timeout);
            var context = new ActionContext
            {
                Intent = new ActionIntent(intent.Rule, intent.Action, intent.ConversationId, arguments),
                IdempotencyKey = intent.IdempotencyKey,
                CarriesSecrets = resolution.CarriesSecrets,
                Attempt = attempt,
                Conversation = snapshot,
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
                return null;
            }
            catch (Exception ex)
            {
                // The record keeps the gist; the log keeps the exception, with its stack and inner causes.
                LogPluginThrew(_logger, ex, intent.Id, intent.Action, attempt);
                result = ActionResult.Retry($"The plugin threw {ex.GetType().Name}: {ex.Message}");
            }
            finally
            {
                // An execution left behind (stopping, or past the timeout) is told to stop before its token goes: stopping's
                // own callbacks may run this before the one that cancels the linked token, whose disposal would then leave
                // the plugin's request running (and the HTTP pipeline waiting for it at shutdown).
                await timeout.CancelAsync();
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
        return new Attempted(new AttemptCommit(intent.Claim, attempt, started, duration, outcome, result.Reason, state, next), result);
    }

    /// <summary>The conversation in the intent's delivery (parsed once per delivery), or why its stored body could not be read.</summary>
    private (FreeScoutRules.FreeScout.Conversation? Conversation, string? Unreadable) Snapshot(DueIntent intent)
    {
        try
        {
            return (intent.Delivery?.Conversation((name, body) => _parser.Parse(name, body).Delivery?.Conversation), null);
        }
        catch (InvalidDataException ex)
        {
            return (null, ex.Message);
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

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error,
        Message = "Action intent {IntentId} ({Action}, rule {Rule}, conversation {ConversationId}) attempt {Attempt} ran ({Outcome}) but its record could not be written; the intent is not sent again until it is, and writing it is tried again with backoff (a restart meanwhile sends it again, with the same Idempotency-Key {IdempotencyKey})")]
    private static partial void LogAttemptUnrecorded(
        ILogger logger, Exception exception, long intentId, string action, string rule, int conversationId, int attempt, string outcome, string idempotencyKey);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "The record of action intent {IntentId}'s attempt {Attempt} is written, at try {Tries}")]
    private static partial void LogAttemptRecordedLate(ILogger logger, long intentId, int attempt, int tries);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning,
        Message = "Stopping with the record of action intent {IntentId} ({Action}) attempt {Attempt} still unwritten: the intent is sent again after the restart, with the same Idempotency-Key {IdempotencyKey}")]
    private static partial void LogUnrecordedAtStop(ILogger logger, long intentId, string action, int attempt, string idempotencyKey);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Error, Message = "The attempt of action intent {IntentId} ({Action}, conversation {ConversationId}) failed inside the action runner; the intent stays pending and is attempted again")]
    private static partial void LogAttemptCrashed(ILogger logger, Exception exception, long intentId, string action, int conversationId);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning,
        Message = "Action intent {IntentId} ({Action}, conversation {ConversationId}) attempt {Attempt} ran ({Outcome}) but another instance claimed the intent since (this one's lease had ended), so its record was refused and dropped; the other's attempt stands, with the same Idempotency-Key {IdempotencyKey}: {Reason}")]
    private static partial void LogClaimLost(ILogger logger, long intentId, string action, int conversationId, int attempt, string outcome, string idempotencyKey, string reason);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "Could not give back the claim of action intent {IntentId}; this instance claims it again at a later poll (another instance, once this one's lease ends)")]
    private static partial void LogClaimKept(ILogger logger, Exception exception, long intentId);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "The plugin of action {Action} threw on intent {IntentId}, attempt {Attempt}")]
    private static partial void LogPluginThrew(ILogger logger, Exception exception, long intentId, string action, int attempt);
}
