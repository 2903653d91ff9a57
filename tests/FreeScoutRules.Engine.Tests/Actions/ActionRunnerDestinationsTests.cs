using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Engine.Tests.Actions;

/// <summary>
/// The action runner on the real outbox (issue 20): a destination that never answers holds only its own share of the
/// attempts in flight, and one that keeps failing holds back nothing, so a healthy destination of the same action gets
/// every intent while both misbehave.
/// </summary>
public sealed class ActionRunnerDestinationsTests : IDisposable
{
    private readonly TempDirectory _data = new();

    public void Dispose() => _data.Dispose();

    /// <summary>An action whose destination is its argument <c>to</c>: "hang" never answers, "fail" always fails, the others succeed.</summary>
    private sealed class Call : IActionHandler
    {
        private int _hanging;

        public string Name => "call";

        public int MostHanging { get; private set; }

        public List<(int Conversation, DateTimeOffset At)> Delivered { get; } = [];

        public string? Destination(string arguments) => JsonDocument.Parse(arguments).RootElement.GetProperty("to").GetString();

        public async ValueTask<ActionResult> ExecuteAsync(ActionContext context)
        {
            switch (Destination(context.Arguments))
            {
                case "hang":
                    lock (Delivered)
                    {
                        MostHanging = Math.Max(MostHanging, ++_hanging);
                    }

                    try
                    {
                        await Task.Delay(Timeout.Infinite, context.CancellationToken);
                    }
                    finally
                    {
                        lock (Delivered)
                        {
                            _hanging--;
                        }
                    }

                    return ActionResult.Done();
                case "fail":
                    return ActionResult.Retry("answered 500");
                default:
                    lock (Delivered)
                    {
                        Delivered.Add((context.Intent.ConversationId, DateTimeOffset.UtcNow));
                    }

                    return ActionResult.Done();
            }
        }
    }

    [Fact]
    public async Task AHangingAndAFailingDestination_HoldBackNoOther_AndTheHangingOneHoldsOnlyItsShareOfTheSlots()
    {
        await using var running = await RunningStorage.StartAsync(_data.Path);
        var storage = running.Storage;
        var call = new Call();
        var plugins = new PluginSetHolder();
        plugins.Set(new PluginSet(new Dictionary<string, IActionHandler> { ["call"] = call }, [], []));
        var destinations = new IntentDestinations(plugins, NullLogger<IntentDestinations>.Instance);
        const int conversations = 40;
        for (var c = 1; c <= conversations; c++)
        {
            var body = Encoding.UTF8.GetBytes($"{{\"id\":{c}}}");
            var stored = await storage.StoreAsync(new NewDelivery("convo.status", body, SHA256.HashData(body), c, DateTimeOffset.UtcNow), default);
            ActionIntent[] intents = [.. new[] { "fail", "hang", "ok" }.Select(to => new ActionIntent("r", "call", c, $$"""{"to":"{{to}}"}"""))];
            await storage.CommitEvaluationAsync(
                new EvaluationCommit(stored.DeliveryId, c, stored.Sequence!.Value, DateTimeOffset.UtcNow, "g", null, [], intents,
                    new DeliveryResult([], [], [], false), null, destinations.Of(intents))
                {
                    Claim = await storage.ClaimForTestAsync(c),
                },
                default);
        }

        var options = new ActionsOptions { Concurrency = 8, PollInterval = TimeSpan.FromMilliseconds(20), Timeout = TimeSpan.FromMinutes(1) };
        var instance = await storage.InstanceAsync();
        var runner = new ActionRunner(storage, () => instance, plugins, new NoHttp(), options, TimeProvider.System, NullLoggerFactory.Instance);
        using var stop = new CancellationTokenSource();
        var started = DateTimeOffset.UtcNow;
        var run = runner.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => call.Delivered.Count == conversations, TimeSpan.FromSeconds(15), () => $"{call.Delivered.Count} of {conversations} delivered");

            Assert.Equal(Enumerable.Range(1, conversations), call.Delivered.Select(d => d.Conversation).Order());
            Assert.True(call.Delivered.Max(d => d.At) - started < TimeSpan.FromSeconds(10), $"the last took {(call.Delivered.Max(d => d.At) - started).TotalSeconds:F1} s");
            Assert.Equal(options.PerDestination, call.MostHanging); // 2 of 8: the hanging destination never took more
            Assert.Equal(2, options.PerDestination);
            // The hanging ones only, once the last delivered attempts are recorded and the failing ones' retries between
            // attempts (a delivered attempt holds its slot until its outcome is recorded: a moment, longer on a loaded machine).
            await WaitUntilAsync(() => runner.Load.InFlight == options.PerDestination, TimeSpan.FromSeconds(10), () => $"{runner.Load.InFlight} attempts in flight");
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }

        var done = await storage.ListAsync(null, IntentState.Done, 100, default);
        Assert.Equal(conversations, done.Count);
        Assert.All(done, i => Assert.Equal("ok", i.Destination));
    }

    /// <summary>A plugin that throws naming a destination, or names a very long one.</summary>
    private sealed class Odd : IActionHandler
    {
        public string Name => "odd";

        public string? Destination(string arguments) => arguments.Contains("throw", StringComparison.Ordinal)
            ? throw new InvalidOperationException("bug")
            : arguments.Contains("long", StringComparison.Ordinal) ? new string('d', 1000) : "";

        public ValueTask<ActionResult> ExecuteAsync(ActionContext context) => ValueTask.FromResult(ActionResult.Done());
    }

    [Fact]
    public void Destinations_ComeFromThePluginInForce_AndAPluginsBugOrSilenceMeansTheActionAsAWhole()
    {
        var plugins = new PluginSetHolder();
        plugins.Set(new PluginSet(new Dictionary<string, IActionHandler> { ["call"] = new Call(), ["odd"] = new Odd() }, [], []));
        var log = new CollectingLogger<IntentDestinations>();
        var destinations = new IntentDestinations(plugins, log);

        Assert.Null(destinations.Of([new ActionIntent("r", "odd", 1, "{}"), new ActionIntent("r", "gone", 1, "{}")]));
        var of = destinations.Of([
            new ActionIntent("r", "call", 1, """{"to":"secret://HOOK"}"""),
            new ActionIntent("r", "odd", 1, """{"x":"throw"}"""),
            new ActionIntent("r", "odd", 1, """{"x":"long"}"""),
            new ActionIntent("r", "gone", 1, "{}"),
        ])!;

        Assert.Equal("secret://HOOK", of[0]);
        Assert.Null(of[1]);
        Assert.Matches("^odd#[0-9a-f]{64}$", of[2]);
        Assert.Null(of[3]);
        var warning = Assert.Single(log.Entries);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Equal("The plugin of action 'odd' threw while naming the destination of an intent (rule r, conversation 1); the intent is ordered with its action as a whole", warning.Message);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe)
    {
        var until = DateTimeOffset.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTimeOffset.UtcNow < until, $"timed out: {describe()}");
            await Task.Delay(20);
        }
    }

    private sealed class NoHttp : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new InvalidOperationException("no HTTP in this test");
    }
}
