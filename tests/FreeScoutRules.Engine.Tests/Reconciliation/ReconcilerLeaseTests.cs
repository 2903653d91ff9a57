using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FreeScoutRules.Engine.FreeScoutApi;
using FreeScoutRules.Engine.Instances;
using FreeScoutRules.Engine.Reconciliation;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Reconciliation;

/// <summary>
/// Reconciliation as singleton work, on the real SQLite store and a clock the tests move: passes (asked for by hand or
/// periodic) run only under the reconciliation lease, so FreeScout is read by one instance at a time; a holder whose lease
/// was taken over stops, and its watermark is refused.
/// </summary>
public sealed class ReconcilerLeaseTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _data = new();
    private readonly FakeTimeProvider _clock = new(Start);
    private readonly TestMeterFactory _meters = new();
    private readonly FreeScoutApi _api = new(Page(Start.AddHours(-1)));
    private RunningStorage _running = null!;
    private InstanceLease _a = null!;
    private InstanceLease _b = null!;

    private SqliteStorage Storage => _running.Storage;

    public async Task InitializeAsync()
    {
        _running = await RunningStorage.StartAsync(_data.Path, time: _clock);
        _a = await Storage.JoinAsync("a", TimeSpan.FromHours(1), default);
        _b = await Storage.JoinAsync("b", TimeSpan.FromHours(1), default);
    }

    public async Task DisposeAsync()
    {
        await _running.DisposeAsync();
        _meters.Dispose();
        _data.Dispose();
        _api.Dispose();
    }

    private (Reconciler Reconciler, NamedLeases Leases) ReconcilerOf(InstanceLease instance, TimeSpan interval)
    {
        var metrics = new EngineMetrics(_meters);
        var leases = new NamedLeases(Storage, () => instance, LeaseTime, _clock, metrics, NullLogger<NamedLeases>.Instance);
        var client = new FreeScoutClient(new HttpClient(_api, disposeHandler: false) { BaseAddress = new Uri("http://127.0.0.1:9/") });
        return (new Reconciler(client, Storage, Storage, leases, new ReconciliationOptions { SettleTime = TimeSpan.Zero }, interval, _clock, metrics, NullLogger<Reconciler>.Instance), leases);
    }

    [Fact]
    public async Task APassAskedFor_WhileAnotherInstanceHoldsTheLease_IsRefusedSayingWhichAndUntilWhen_AndReadsNothing()
    {
        await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        var (reconciler, _) = ReconcilerOf(_a, TimeSpan.Zero);

        var refused = await Assert.ThrowsAsync<LeaseHeldElsewhereException>(() => reconciler.PassAsync(null, ReconciliationPass.Manual, default));

        Assert.Equal((_b.Id, "b", Start + LeaseTime), (refused.Holder.Lease.InstanceId, refused.Holder.InstanceName, refused.Holder.Lease.ExpiresAt));
        Assert.Contains($"instance {_b.Id} (b) until 2026-12-01 08:00:30Z", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, _api.Requests);
        Assert.Null(await Storage.LoadWatermarkAsync(default));
        Assert.Null(reconciler.Status.LastPass);
    }

    [Fact]
    public async Task AHolderWhoseLeaseWasTakenOver_HasItsWatermarkRefused_ThePassStopsCleanly_AndTheNewHolderGoesOn()
    {
        var (reconciler, _) = ReconcilerOf(_a, TimeSpan.Zero);
        _api.Hold();
        var passing = reconciler.PassAsync(null, ReconciliationPass.Manual, default);
        await _api.Entered.Task.WaitAsync(TimeSpan.FromSeconds(20));

        // While its request is out (a pause, a slow FreeScout), this instance's lease ends and another instance takes the
        // reconciliation lease over.
        await Storage.LeaveAsync(_a, default);
        var next = await Storage.JoinAsync("c", TimeSpan.FromHours(1), default);
        var takenOver = await Storage.TryAcquireAsync(NamedLeases.Reconciliation, next, LeaseTime, default);
        _api.Release();
        var pass = await passing.WaitAsync(TimeSpan.FromSeconds(20));
        var watermarkAfterRefusal = await Storage.LoadWatermarkAsync(default);
        var (successor, _) = ReconcilerOf(next, TimeSpan.Zero);
        var after = await successor.PassAsync(null, ReconciliationPass.Manual, default);

        Assert.Equal(2, takenOver!.Epoch);
        Assert.Null(pass.Error);
        Assert.Contains($"instance {next.Id} holds it at epoch 2", pass.LeaseLost, StringComparison.Ordinal);
        Assert.Null(watermarkAfterRefusal);
        Assert.Equal(ReconcilerStatus.Off, reconciler.Status.State); // as before the pass (its interval is off): neither ok nor failing
        Assert.Same(pass, reconciler.Status.LastPass);
        Assert.Null(after.Error);
        Assert.Null(after.LeaseLost);
        Assert.Equal(1, after.Duplicates); // the snapshot the first holder stored is recognised
        Assert.Equal(Start.AddHours(-1), await Storage.LoadWatermarkAsync(default));
    }

    [Fact]
    public async Task APass_StopsAsSoonAsItsLeaseIsLost_WithoutWaitingForItsRequest()
    {
        var (reconciler, leases) = ReconcilerOf(_a, TimeSpan.Zero);
        _api.Hold();
        var passing = reconciler.PassAsync(null, ReconciliationPass.Manual, default);
        await _api.Entered.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await Storage.LeaveAsync(_a, default); // this instance's lease ends; another instance takes the reconciliation lease
        var next = await Storage.JoinAsync("c", TimeSpan.FromHours(1), default);
        await Storage.TryAcquireAsync(NamedLeases.Reconciliation, next, LeaseTime, default);

        _clock.Advance(leases.RenewEvery); // the renewal finds the lease taken
        var pass = await passing.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal("another instance holds it now", pass.LeaseLost);
        Assert.Null(pass.Error);
        Assert.Equal((1, 0), (_api.Requests, pass.Stored));
        Assert.Null(await Storage.LoadWatermarkAsync(default));
    }

    [Fact]
    public async Task PeriodicPasses_StandByWhileAnotherInstanceHoldsTheLease_AndTakeOverOnceItEnds()
    {
        await Storage.TryAcquireAsync(NamedLeases.Reconciliation, _b, LeaseTime, default);
        var (reconciler, _) = ReconcilerOf(_a, TimeSpan.FromMinutes(5));
        using var stop = new CancellationTokenSource();
        var running = reconciler.RunAsync(stop.Token);

        await Until("the reconciler to stand by", () => reconciler.Status.State == ReconcilerStatus.Standby);
        var standingBy = reconciler.Status;
        var requestsWhileStandingBy = _api.Requests;
        // The other instance stops renewing: its lease ends, and this one takes over at its next look.
        await Until("the reconciler to take over and pass", () =>
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            return reconciler.Status.State == ReconcilerStatus.Ok;
        });
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal((_b.Id, "b"), (standingBy.HeldElsewhere!.Lease.InstanceId, standingBy.HeldElsewhere.InstanceName));
        Assert.Equal(0, requestsWhileStandingBy);
        Assert.Equal(1, _api.Requests);
        Assert.Null(reconciler.Status.HeldElsewhere);
        Assert.Equal(Start.AddHours(-1), await Storage.LoadWatermarkAsync(default));
        var lease = Assert.Single(await Storage.ListLeasesAsync(default));
        Assert.Equal((_a.Id, 2L), (lease.InstanceId, lease.Epoch));
        Assert.True(lease.ExpiresAt <= _clock.GetUtcNow()); // given back at the stop
    }

    private static async Task Until(string what, Func<bool> holds)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (!holds())
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 30 s for {what}.");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>FreeScout's answer: one conversation, closed, updated at <paramref name="updatedAt"/>.</summary>
    private static string Page(DateTimeOffset updatedAt)
    {
        var conversation = Fixtures.Json("convo.status.closed");
        conversation["id"] = 501;
        conversation["number"] = 10_501;
        conversation["updatedAt"] = updatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        return new JsonObject { ["_embedded"] = new JsonObject { ["conversations"] = new JsonArray(conversation) } }.ToJsonString();
    }

    /// <summary>FreeScout's API: counts requests, answers each with the same page, and can hold them until released.</summary>
    private sealed class FreeScoutApi(string page) : HttpMessageHandler
    {
        private int _requests;
        private TaskCompletionSource? _gate;

        public int Requests => Volatile.Read(ref _requests);

        /// <summary>Completed when a held request arrived.</summary>
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _gate?.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            if (_gate is { } gate)
            {
                Entered.TrySetResult();
                await gate.Task.WaitAsync(cancellationToken);
            }

            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(page, Encoding.UTF8, "application/json") };
        }
    }
}
