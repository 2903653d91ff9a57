using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Actions;

/// <summary>
/// The action runner on the claim-based outbox (issue 21): an attempt whose claim is taken over while it is being sent
/// (its instance's lease ran out) is sent again by the new holder with the same idempotency key, recorded once, and the
/// first holder's late record is refused, logged, counted and dropped.
/// </summary>
public sealed class ActionRunnerClaimsTests : IDisposable
{
    private readonly TempDirectory _data = new();

    public void Dispose() => _data.Dispose();

    /// <summary>An action whose first call waits until <see cref="Release"/>; every later one is done at once.</summary>
    private sealed class Gate : IActionHandler
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<(string Key, int Attempt)> _calls = [];

        public string Name => "call";

        public IReadOnlyList<(string Key, int Attempt)> Calls
        {
            get
            {
                lock (_calls)
                {
                    return [.. _calls];
                }
            }
        }

        public void Release() => _released.TrySetResult();

        public async ValueTask<ActionResult> ExecuteAsync(ActionContext context)
        {
            bool first;
            lock (_calls)
            {
                first = _calls.Count == 0;
                _calls.Add((context.IdempotencyKey, context.Attempt));
            }

            if (first)
            {
                await _released.Task.WaitAsync(context.CancellationToken);
            }

            return ActionResult.Done();
        }
    }

    /// <summary>Log entries with their event ids, for every category.</summary>
    private sealed class Events : ILoggerFactory, ILogger
    {
        private readonly List<(int Id, LogLevel Level, string Message)> _entries = [];

        public IReadOnlyList<(int Id, LogLevel Level, string Message)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _entries];
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries)
            {
                _entries.Add((eventId.Id, logLevel, formatter(state, exception)));
            }
        }
    }

    [Fact]
    public async Task AnAttemptTakenOverWhileBeingSent_IsSentAgainWithTheSameKey_RecordedOnce_AndTheLateRecordIsDroppedLoggedAndCounted()
    {
        // The store's clock decides leases; the runners poll and time out on real time.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var running = await RunningStorage.StartAsync(_data.Path, time: clock);
        var storage = running.Storage;
        var body = Encoding.UTF8.GetBytes("""{"id":1187}""");
        var stored = await storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), 1187, clock.GetUtcNow()), default);
        await storage.CommitEvaluationAsync(
            new EvaluationCommit(stored.DeliveryId, 1187, stored.Sequence!.Value, clock.GetUtcNow(), "g", null, [], [new ActionIntent("r", "call", 1187, "{}")],
                new DeliveryResult([], [], [], false))
            {
                Claim = await storage.ClaimForTestAsync(1187),
            },
            default);

        var gate = new Gate();
        var plugins = new PluginSetHolder();
        plugins.Set(new PluginSet(new Dictionary<string, IActionHandler> { ["call"] = gate }, [], []));
        var options = new ActionsOptions { PollInterval = TimeSpan.FromMilliseconds(20), Timeout = TimeSpan.FromMinutes(1) };
        using var meters = new TestMeterFactory();
        var metrics = new EngineMetrics(meters);
        var lost = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "freescout_rules.claims.lost" && meters.Owns(instrument.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            lock (lost)
            {
                lost.Add($"{tags[0].Key}={tags[0].Value}:{value}");
            }
        });
        listener.Start();

        var a = await storage.JoinAsync("A", TimeSpan.FromSeconds(5), default);
        var logA = new Events();
        var runnerA = new ActionRunner(storage, () => a, plugins, new NoHttp(), options, TimeProvider.System, logA, metrics);
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = runnerA.RunAsync(stopA.Token);
        Task? runB = null;
        try
        {
            await WaitUntilAsync(() => gate.Calls.Count == 1, "A's attempt to be sent");

            // A hangs past its lease (nothing renews it here); B, alive, takes the intent over and sends it, same key.
            clock.Advance(TimeSpan.FromSeconds(6));
            var b = await storage.JoinAsync("B", TimeSpan.FromHours(1), default);
            var runnerB = new ActionRunner(storage, () => b, plugins, new NoHttp(), options, TimeProvider.System, new Events(), metrics);
            runB = runnerB.RunAsync(stopB.Token);
            await WaitUntilAsync(() => gate.Calls.Count == 2, "B's attempt to be sent");
            await WaitUntilAsync(async () => (await storage.StatsAsync(default)).Pending == 0, "B's record");
            Assert.Equal([(gate.Calls[0].Key, 1), (gate.Calls[0].Key, 1)], gate.Calls);

            // A's send ends: its record is refused, logged, counted, dropped, its slot freed; nothing is sent again.
            gate.Release();
            await WaitUntilAsync(() => logA.Entries.Any(e => e.Id == 4010), "A's refused record to be logged");
            var entry = Assert.Single(logA.Entries, e => e.Id == 4010);
            Assert.Equal(LogLevel.Warning, entry.Level);
            Assert.StartsWith(
                $"Action intent 1 (call, conversation 1187) attempt 1 ran (done) but another instance claimed the intent since (this one's lease had ended), so its record was refused and dropped; the other's attempt stands, with the same Idempotency-Key {gate.Calls[0].Key}: The claim of instance {a.Id} on action intent 1 is lost: nobody holds it now (it is done).",
                entry.Message,
                StringComparison.Ordinal);
            await WaitUntilAsync(() => runnerA.Load == (0, 0), "A's slot to be freed");
            lock (lost)
            {
                Assert.Equal(["what=intent:1"], lost);
            }

            await Task.Delay(options.PollInterval * 5);
            Assert.Equal(2, gate.Calls.Count);
        }
        finally
        {
            gate.Release();
            await stopA.CancelAsync();
            await stopB.CancelAsync();
            await runA.WaitAsync(TimeSpan.FromSeconds(10));
            if (runB is not null)
            {
                await runB.WaitAsync(TimeSpan.FromSeconds(10));
            }
        }

        var intent = Assert.Single(await storage.ListAsync(null, null, 10, default));
        Assert.Equal((IntentState.Done, 1), (intent.State, intent.Attempts));
        Assert.Equal(AttemptOutcome.Done, Assert.Single(intent.AttemptLog).Outcome);
        Assert.Equal(gate.Calls[0].Key, intent.IdempotencyKey);
    }

    [Fact]
    public async Task AnAttemptCutShortAtAStop_GivesItsClaimBack_SoThatItIsDueAtOnce()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path);
        var storage = running.Storage;
        var body = Encoding.UTF8.GetBytes("""{"id":7}""");
        var stored = await storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), 7, DateTimeOffset.UtcNow), default);
        await storage.CommitEvaluationAsync(
            new EvaluationCommit(stored.DeliveryId, 7, stored.Sequence!.Value, DateTimeOffset.UtcNow, "g", null, [], [new ActionIntent("r", "call", 7, "{}")],
                new DeliveryResult([], [], [], false))
            {
                Claim = await storage.ClaimForTestAsync(7),
            },
            default);
        var gate = new Gate();
        var plugins = new PluginSetHolder();
        plugins.Set(new PluginSet(new Dictionary<string, IActionHandler> { ["call"] = gate }, [], []));
        var instance = await storage.InstanceAsync();
        var runner = new ActionRunner(
            storage, () => instance, plugins, new NoHttp(), new ActionsOptions { PollInterval = TimeSpan.FromMilliseconds(20) }, TimeProvider.System, new Events());
        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);
        await WaitUntilAsync(() => gate.Calls.Count == 1, "the attempt to be sent");

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));

        // Not recorded, not held: due at once for this instance (its lease lives), with its key.
        var intent = Assert.Single(await storage.ListAsync(null, null, 10, default));
        Assert.Equal((IntentState.Pending, 0), (intent.State, intent.AttemptLog.Count));
        var due = Assert.Single(await storage.ClaimDueForTestAsync());
        Assert.Equal((intent.Id, gate.Calls[0].Key), (due.Id, due.IdempotencyKey));
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var until = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTimeOffset.UtcNow < until, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    private sealed class NoHttp : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new InvalidOperationException("no HTTP in this test");
    }
}
