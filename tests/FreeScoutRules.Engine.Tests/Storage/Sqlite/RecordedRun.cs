using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.FreeScoutApi;
using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Reconciliation;
using FreeScoutRules.Engine.Retention;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Engine.Timers;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// An end-to-end run of the engine's services on a real store (SQLite by default; any store through
/// <see cref="RecordedStore"/>: the PostgreSQL plan test runs it on its large database), recording the statements the
/// store ran where the store lets a test observe them (SQLite: <see cref="SqliteStorage.StatementObserver"/>, on every
/// connection it opened, the writer's too; PostgreSQL logs them itself, with their plans) and every
/// storage port method called (each port seen by the services through a <see cref="PortRecorder{T}"/>): webhooks
/// ingested (new, redelivered, without a conversation), dispatched and evaluated by real rules (status changes,
/// intents, timers scheduled and cancelled, a rule failure, a delivery parked), the action runner (done, retried,
/// dead, retried by hand), the timer loop firing, a reconciliation pass, the storage gauges, re-runs, the rule
/// generation log, retention, the console's shared keys (where the store has them), and the reads of the console's pages
/// and the admin API with the arguments they pass.
/// </summary>
internal sealed class RecordedRun
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly ConcurrentDictionary<string, int> _statements = new(StringComparer.Ordinal);

    /// <summary>Every statement the store ran, as prepared (parameters not expanded), with how often.</summary>
    public IReadOnlyDictionary<string, int> Statements => _statements;

    /// <summary>The statements run on connections that keep them prepared from one run to the next (the writer's, the kept readers'), a part of <see cref="Statements"/>.</summary>
    public IReadOnlySet<string> KeptStatements => _keptStatements.Keys.ToHashSet(StringComparer.Ordinal);

    private readonly ConcurrentDictionary<string, bool> _keptStatements = new(StringComparer.Ordinal);

    /// <summary>Every port method called, with how often.</summary>
    public ConcurrentDictionary<MethodInfo, int> Calls { get; } = new();

    /// <summary>The storage ports: the interfaces of the engine's storage namespace that the SQLite store implements.</summary>
    public static IReadOnlyList<Type> Ports { get; } = PortsOf(typeof(SqliteStorage));

    /// <summary>The storage ports <paramref name="store"/> implements: the interfaces of the engine's storage namespace.</summary>
    public static IReadOnlyList<Type> PortsOf(Type store) => [.. store.GetInterfaces().Where(i => i.Namespace == typeof(IInbox).Namespace)];

    /// <summary>Records a statement the store ran (as prepared, parameters not expanded).</summary>
    internal void Statement(string sql) => _statements.AddOrUpdate(sql.Trim(), 1, (_, count) => count + 1);

    /// <summary>Records a statement run on a connection that keeps it prepared from one run to the next.</summary>
    internal void KeptStatement(string sql) => _keptStatements[sql.Trim()] = true;

    private const string RulesSource = """
        public class PlanNotifyOnClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then()
                    .Do(ctx => ctx.Enqueue("plan.ordered", new { number = change.Number }))
                    .Do(ctx => ctx.Enqueue("plan.unordered", new { number = change.Number }))
                    .Do(ctx => ctx.Schedule("plan.follow-up", change.ConversationId, TimeSpan.FromHours(1)));
            }
        }

        public class PlanCancelOnReopen : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsReopen);
                Then().Do(ctx => ctx.CancelTimer("plan.follow-up", change.ConversationId));
            }
        }

        public class PlanFailsOnPending : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.To == "pending");
                Then().Do(ctx => Fail());
            }

            private static void Fail() => throw new InvalidOperationException("the plan test's failing rule");
        }
        """;

    /// <summary>The run on a new SQLite store in a temporary data directory, its statements observed.</summary>
    public static async Task<RecordedRun> RecordAsync()
    {
        using var data = new TempDirectory();
        return await RecordAsync(
            hints => new RecordedStore(
                new SqliteStorage(new SqliteOptions { DataDirectory = data.Path, Durable = false }, NullLogger<InboxWriter>.Instance, hints: hints),
                (storage, run) =>
                {
                    ((SqliteStorage)storage).StatementObserver = run.Statement;
                    ((SqliteStorage)storage).KeptStatementObserver = run.KeptStatement;
                }),
            RecordedRunKeep.Default);
    }

    /// <summary>
    /// The run on the store <paramref name="open"/> makes (given where it announces work), which may hold history already:
    /// <paramref name="keep"/> says what retention keeps, so that only the run's own old records go.
    /// </summary>
    public static async Task<RecordedRun> RecordAsync(Func<WorkHints, RecordedStore> open, RecordedRunKeep keep)
    {
        var run = new RecordedRun();
        var hints = new WorkHints();
        var store = open(hints);
        try
        {
            await run.RunAsync(store, hints, keep);
        }
        finally
        {
            if (store.Storage is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }

        return run;
    }

    private T Port<T>(object storage)
        where T : class => PortRecorder<T>.Wrap((T)storage, Calls);

    private async Task RunAsync(RecordedStore store, WorkHints hints, RecordedRunKeep keep)
    {
        using var rulesDirectory = new TempDirectory();
        using var meters = new TestMeterFactory();
        using var stop = new CancellationTokenSource();
        rulesDirectory.Write("plan.csx", RulesSource);
        var generation = RuleSetCompiler.Compile(rulesDirectory.Path);
        Assert.Equal(3, generation.Rules.Count(r => r.Name.StartsWith("Plan", StringComparison.Ordinal)));

        var storage = store.Storage;
        var lifetime = Port<IStorageLifetime>(storage);
        await lifetime.InitializeAsync(default);
        store.Observe?.Invoke(storage, this);
        var writer = lifetime.RunAsync(default);
        var inbox = Port<IInbox>(storage);
        var history = Port<IDeliveryHistory>(storage);
        var outbox = Port<IOutbox>(storage);
        var timers = Port<ITimers>(storage);
        var retention = Port<IRetentionStore>(storage);
        var reconciliation = Port<IReconciliationStore>(storage);
        var generations = Port<IRuleGenerationLog>(storage);
        var leases = Port<ILeases>(storage);
        var instance = await leases.JoinAsync("plan-test", TimeSpan.FromMinutes(5), default);

        // What the store holds before the run and stays as it is (history of months: timers due later, intents retried later).
        var timersBefore = await ((ITimers)storage).CountPendingAsync(default);
        var intentsBefore = (await ((IOutbox)storage).StatsAsync(default)).Pending;

        // The clock of what arrives (webhooks, reconciliation, timers, retention) is set by the run; dispatch and
        // the action runner wait on real time (their retry delays and polls).
        var t0 = TimeProvider.System.GetUtcNow();
        var clock = new FakeTimeProvider(t0 - keep.Records - TimeSpan.FromDays(5));
        var metrics = new EngineMetrics(meters);
        var dispatchOptions = new DispatchOptions { MaxAttempts = 2, RetryDelay = TimeSpan.FromMilliseconds(5) };
        var failEvaluations = false;
        var processor = new DeliveryProcessor(
            inbox, () => Volatile.Read(ref failEvaluations) ? throw new InvalidOperationException("the plan test's rules are unavailable") : generation,
            new EvaluationPipeline(PipelineSettings.Default), new Watchdog(dispatchOptions.RuleTimeout, TimeProvider.System, NullLogger<Watchdog>.Instance),
            dispatchOptions, TimeProvider.System, metrics, NullLogger<DeliveryProcessor>.Instance);
        var dispatcher = new Dispatcher(inbox, hints, () => instance, processor, dispatchOptions, TimeProvider.System, metrics, NullLogger<Dispatcher>.Instance);
        var dispatching = dispatcher.RunAsync(stop.Token);
        var ingestor = new WebhookIngestor(new WebhookOptions { InsecureSkipSignature = true }, inbox, clock, metrics);

        async Task Ingest(string eventName, byte[] body, IngestionStatus expected)
        {
            var result = await ingestor.IngestAsync(eventName, null, body, default);
            Assert.True(result.Status == expected, $"{eventName}: {result.Status} {result.Problem}");
        }

        async Task Processed()
        {
            await Until("dispatch to drain", async () => dispatcher.InProgress == 0 && await history.CountAsync(DeliveryOutcome.Pending, default) == 0);
        }

        // History for retention: records old enough to go (5 days past what it keeps), and a body old enough to go (2 days past).
        await Ingest(Events.ConversationStatus, Conversation(120, Status.Active, clock.GetUtcNow()), IngestionStatus.Accepted);
        clock.SetUtcNow(t0 - keep.Bodies - TimeSpan.FromDays(2));
        await Ingest(Events.ConversationStatus, Conversation(121, Status.Active, clock.GetUtcNow()), IngestionStatus.Accepted);
        clock.SetUtcNow(t0);

        // Conversations opened, closed (intents, a timer), reopened (the timer cancelled), closed again (scheduled again),
        // set pending (a rule fails); a redelivery; customer events (no conversation), one redelivered.
        for (var id = 101; id <= 104; id++)
        {
            string[] statuses = id switch
            {
                101 => [Status.Active, Status.Closed, Status.Active, Status.Closed],
                102 => [Status.Active, Status.Closed, Status.Active],
                103 => [Status.Active, Status.Closed, Status.Pending],
                _ => [Status.Active, Status.Closed],
            };
            for (var i = 0; i < statuses.Length; i++)
            {
                await Ingest(i == 0 ? Events.ConversationCreated : Events.ConversationStatus, Conversation(id, statuses[i], t0.AddSeconds(i)), IngestionStatus.Accepted);
            }
        }

        await Ingest(Events.ConversationStatus, Conversation(101, Status.Closed, t0.AddSeconds(1)), IngestionStatus.Duplicate);
        var customer = Fixtures.Wire("customer.created");
        await Ingest(Events.CustomerCreated, customer, IngestionStatus.Accepted);
        await Ingest(Events.CustomerCreated, customer, IngestionStatus.Duplicate);
        await Processed();

        // A delivery whose evaluation keeps failing: an attempt recorded, then parked.
        Volatile.Write(ref failEvaluations, true);
        await Ingest(Events.ConversationStatus, Conversation(105, Status.Closed, t0.AddSeconds(10)), IngestionStatus.Accepted);
        await Until("the delivery to be parked", async () => await history.CountAsync(DeliveryOutcome.Parked, default) == 1);
        Volatile.Write(ref failEvaluations, false);

        // The action runner: the ordered action succeeds; the unordered one fails once, then for odd conversations for good.
        var plugins = new PluginSetHolder();
        plugins.Set(new PluginSet(new Dictionary<string, IActionHandler> { ["plan.ordered"] = new Handler("plan.ordered", true), ["plan.unordered"] = new Handler("plan.unordered", false) }, [], []));
        var actionOptions = new ActionsOptions { PollInterval = TimeSpan.FromMilliseconds(20), FirstRetryDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = 3 };
        async Task RunActionsUntilSettled()
        {
            using var actionsStop = new CancellationTokenSource();
            var runner = new ActionRunner(outbox, () => instance, plugins, new NoHttp(), actionOptions, TimeProvider.System, NullLoggerFactory.Instance, metrics).RunAsync(actionsStop.Token);
            await Until("every intent to be done or dead", async () => (await ((IOutbox)storage).StatsAsync(default)).Pending == intentsBefore);
            await actionsStop.CancelAsync();
            await runner;
        }

        await RunActionsUntilSettled();
        var dead = await outbox.ListAsync(null, IntentState.Dead, 500, default);
        Assert.NotEmpty(dead);
        Assert.True(await outbox.RetryDeadAsync(dead[0].Id, TimeProvider.System.GetUtcNow(), default));

        // A claim given back without an attempt (an attempt cut short at a stop): due again at once.
        // Claimed as the action runner claims: saying what it holds (its orphaned claims are due for it again).
        var slots = new IntentSlots(1, 1, new Dictionary<string, int>()) { Held = ["a-token-in-flight"] };
        var held = Assert.Single((await outbox.ClaimDueAsync(instance, slots, new HashSet<string>(), default)).Intents);
        Assert.Equal(dead[0].Id, held.Id);
        Assert.True(await outbox.ReleaseAsync(held.Claim, default));
        await Assert.ThrowsAsync<ClaimLostException>(() => outbox.RecordAttemptAsync(
            new AttemptCommit(held.Claim, held.Attempts + 1, TimeProvider.System.GetUtcNow(), TimeSpan.Zero, AttemptOutcome.Done, null, IntentState.Done, null), default));
        await RunActionsUntilSettled();

        // The timer loop fires what is due (two hours later); their firings are dispatched (the conversation's snapshot read).
        clock.SetUtcNow(t0 + TimeSpan.FromHours(2));
        using (var timersStop = new CancellationTokenSource())
        {
            var loop = new TimerLoop(timers, history, new TimerSignal(), metrics, clock, NullLogger<TimerLoop>.Instance) { Batch = 2 }.RunAsync(timersStop.Token);
            await Until("the timers to fire", async () => await timers.CountPendingAsync(default) == timersBefore);
            await timersStop.CancelAsync();
            try
            {
                await loop.WaitAsync(Patience);
            }
            catch (OperationCanceledException)
            {
                // how the loop ends when stopped while it waits
            }
        }

        await Processed();

        // Reconciliation: one conversation changed unseen, one not newer than its known state, one never seen.
        var page = new JsonObject
        {
            ["_embedded"] = new JsonObject
            {
                ["conversations"] = new JsonArray(
                    JsonNode.Parse(Conversation(102, Status.Closed, t0.AddMinutes(30)))!,
                    JsonNode.Parse(Conversation(104, Status.Closed, t0.AddSeconds(-30)))!,
                    JsonNode.Parse(Conversation(130, Status.Active, t0.AddMinutes(30)))!),
            },
        }.ToJsonString();
        var api = new FreeScoutClient(new HttpClient(new Answer(page)) { BaseAddress = new Uri("http://127.0.0.1:9/") });
        // Singleton work under named leases, on the store's clock (the system's here).
        var namedLeases = new NamedLeases(leases, () => instance, TimeSpan.FromMinutes(1), TimeProvider.System, metrics, NullLogger<NamedLeases>.Instance);
        var reconciler = new Reconciler(
            api, reconciliation, inbox, namedLeases, new ReconciliationOptions { SettleTime = TimeSpan.Zero }, TimeSpan.Zero, clock, metrics, NullLogger<Reconciler>.Instance);
        await reconciler.LoadAsync(default);
        var pass = await reconciler.PassAsync(null, ReconciliationPass.Manual, default);
        Assert.True(pass.Error is null && pass.Stored == 2, $"reconciliation: {pass}");
        await Processed();

        // The storage gauges, re-runs (one delivery, the parked ones, those a rule failed on), the rule generation log.
        await new StorageGauges(outbox, history, metrics, clock, NullLogger<StorageGauges>.Instance, timers).SampleAsync(default);
        var reruns = new Reruns(inbox, history);
        var newest = (await history.ListAsync(new DeliveryFilter(ConversationId: 101, PageSize: 1), default)).Single();
        Assert.Equal(1, (await reruns.RerunRuleFailedAsync(default)).Requeued);
        await Processed();
        Assert.Equal(1, (await reruns.RerunParkedAsync(default)).Requeued);
        await Processed();
        await generations.RecordAsync("plan-test", clock.GetUtcNow(), loaded: true, 3, null, default);
        await generations.RecordAsync("plan-test-broken", clock.GetUtcNow(), loaded: false, 0, "CS1002: ; expected", default);

        await ReadLikeTheConsoleAndTheApiAsync(history, outbox, timers, inbox, generations, newest.Id, clock.GetUtcNow());

        // Retention: records older than 5 days go, bodies older than a day (by default).
        var pruner = new Pruner(retention, namedLeases, new RetentionOptions { Records = keep.Records, Bodies = keep.Bodies, BatchSize = 2, BatchPause = TimeSpan.Zero },
            clock, metrics, NullLogger<Pruner>.Instance);
        var (records, bodies) = await pruner.PruneOnceAsync(default);
        Assert.True(records >= 1 && bodies >= 1, $"retention pruned {records} records and {bodies} bodies");
        await pruner.PruneOnceAsync(default);

        // The console's data-protection keys, where the store shares them between instances (PostgreSQL): the key ring
        // stores a new key and reads them all.
        if (storage is ISharedKeys)
        {
            var keys = Port<ISharedKeys>(storage);
            keys.StoreKey("key-plan-test", "<key id=\"plan-test\" />");
            Assert.Contains(keys.LoadKeys(), k => k.Contains("plan-test", StringComparison.Ordinal));
        }

        // Named leases (singleton work) and the instances, as /api/status reads them; the instance leaves at stop.
        var lease = await leases.TryAcquireAsync("plan", instance, TimeSpan.FromMinutes(1), default);
        Assert.NotNull(await leases.TryAcquireAsync("plan", instance, TimeSpan.FromMinutes(1), default));
        await leases.ListLeasesAsync(default);
        await leases.ReleaseAsync(lease!, default);
        Assert.True(await leases.RenewAsync(instance, TimeSpan.FromMinutes(5), default));
        await leases.RecordRulesAsync(instance, "plan-generation", default);
        await leases.ListInstancesAsync(clock.GetUtcNow().AddDays(-1), default);

        await stop.CancelAsync();
        await dispatching;
        await leases.LeaveAsync(instance, default);
        _ = (lifetime.Location, lifetime.Measures.Select(m => m.Read()).ToList(), lifetime.SizeBytes, lifetime.InstallationId);
        lifetime.Complete();
        await writer;
    }

    /// <summary>
    /// The reads of the console's pages and the admin API, with the arguments they pass: every filter of the delivery
    /// list alone and with the others (the console's form and the API's query combine them freely), the timers and
    /// intents lists in each state, a delivery's page, the timeline, the lookup, the overview.
    /// </summary>
    private static async Task ReadLikeTheConsoleAndTheApiAsync(
        IDeliveryHistory history, IOutbox outbox, ITimers timers, IInbox inbox, IRuleGenerationLog generations, long deliveryId, DateTimeOffset now)
    {
        for (var mask = 0; mask < 1 << 7; mask++)
        {
            bool Has(int bit) => (mask & (1 << bit)) != 0;
            await history.ListAsync(
                new DeliveryFilter(
                    ConversationId: Has(0) ? 101 : null, Outcome: Has(1) ? DeliveryOutcome.Done : null, Since: Has(2) ? now.AddDays(-2) : null,
                    Until: Has(3) ? now.AddDays(-1) : null, RuleFailed: Has(4) ? true : null, Event: Has(5) ? Events.ConversationStatus : null,
                    BeforeId: Has(6) ? deliveryId : null, Page: 2),
                default);
        }

        await history.ListAsync(new DeliveryFilter(RuleFailed: false), default);
        await history.GetAsync(deliveryId, default);
        await history.GetBodyAsync(deliveryId, default);
        await history.CountByOutcomeAsync(default);
        await history.CountAsync(DeliveryOutcome.Done, default);
        await history.CountAsync(DeliveryOutcome.Parked, default);
        await history.ActivityAsync(now.AddMinutes(-59), now.AddHours(-23), default);
        await history.RuleFailuresAsync(now.AddHours(-24), 10_000, default);
        await history.FindConversationsAsync(101, default);
        await history.FindConversationsAsync(10101, default);
        await history.LoadHistoryAsync(101, default);
        await history.LoadHistoryAsync(null, default);
        await inbox.GetStoredAsync(deliveryId, default);
        foreach (var state in new string?[] { null, IntentState.Pending, IntentState.Done, IntentState.Dead })
        {
            await outbox.ListAsync(null, state, 100, default);
            await outbox.ListAsync(deliveryId, state, 100, default);
        }

        await outbox.StatsAsync(default);
        foreach (var state in new string?[] { null, TimerState.Pending, TimerState.Fired, TimerState.Cancelled })
        {
            foreach (var conversation in new int?[] { null, 101 })
            {
                await timers.ListAsync(new TimerFilter(conversation, null, 100, state), default);
                await timers.ListAsync(new TimerFilter(conversation, now.AddDays(1), 100, state), default);
            }
        }

        await timers.CountPendingAsync(default);
        await generations.ListGenerationsAsync(20, default);
    }

    /// <summary>A webhook body of <paramref name="id"/> in <paramref name="status"/>, updated at <paramref name="updatedAt"/>.</summary>
    private static byte[] Conversation(int id, string status, DateTimeOffset updatedAt)
    {
        var json = Fixtures.Json("convo.status.closed");
        json["id"] = id;
        json["number"] = id + 10_000;
        json["status"] = status;
        json["updatedAt"] = updatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        json["_embedded"]!["threads"]![0]!["status"] = status;
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    private static async Task Until(string what, Func<Task<bool>> holds)
    {
        var deadline = TimeProvider.System.GetUtcNow() + Patience;
        while (!await holds())
        {
            if (TimeProvider.System.GetUtcNow() > deadline)
            {
                throw new TimeoutException($"Waited {Patience.TotalSeconds} s for {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>An action: done at once when ordered; otherwise a retryable failure first, then done for even conversations and dead for odd ones.</summary>
    private sealed class Handler(string name, bool ordered) : IActionHandler
    {
        public string Name => name;

        public bool OrderedPerConversation => ordered;

        public ValueTask<ActionResult> ExecuteAsync(ActionContext context) => ValueTask.FromResult(
            ordered ? ActionResult.Done()
            : context.Attempt == 1 ? ActionResult.Retry("the plan test's first attempt fails")
            : context.Intent.ConversationId % 2 == 0 ? ActionResult.Done() : ActionResult.Fail("the plan test's odd conversations fail"));
    }

    private sealed class NoHttp : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new InvalidOperationException("The plan test's actions make no HTTP requests.");
    }

    /// <summary>FreeScout's API, answering every request with the same page.</summary>
    private sealed class Answer(string page) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(page, Encoding.UTF8, "application/json") });
    }
}

/// <summary>
/// The store a <see cref="RecordedRun"/> runs on: one object implementing every storage port (not initialized yet; the
/// run initializes it and disposes it when it is <see cref="IAsyncDisposable"/>), and how to observe its statements once
/// initialized (none when the database logs them itself).
/// </summary>
internal sealed record RecordedStore(object Storage, Action<object, RecordedRun>? Observe = null);

/// <summary>What retention keeps in a <see cref="RecordedRun"/>: records newer than <paramref name="Records"/>, bodies newer than <paramref name="Bodies"/>.</summary>
internal sealed record RecordedRunKeep(TimeSpan Records, TimeSpan Bodies)
{
    /// <summary>For a new store: 5 days of records, a day of bodies.</summary>
    public static RecordedRunKeep Default { get; } = new(TimeSpan.FromDays(5), TimeSpan.FromDays(1));
}
