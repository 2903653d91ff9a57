using FreeScoutRules.Engine.Supervision;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Engine.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FreeScoutRules.Engine.Tests.Supervision;

public sealed class LoopSupervisorTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestMeterFactory _meters = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly LoopSupervisor _supervisor;

    public LoopSupervisorTests() =>
        _supervisor = new LoopSupervisor(new EngineMetrics(_meters), _time, NullLogger<LoopSupervisor>.Instance) { Settle = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
        _supervisor.Dispose();
        _meters.Dispose();
    }

    private static async Task Until(string condition, Func<bool> holds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!holds())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Waited 10 s for {condition}.");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task RestartPolicy_FailedLoopIsNamed_RestartedAfterBackoff_AndHealthyOnceItSettles()
    {
        var runs = 0;
        var loop = _supervisor.Run("plugins-reloader", async stopping =>
        {
            if (Interlocked.Increment(ref runs) == 1)
            {
                throw new IOException("plugin.dll is being copied");
            }

            await Task.Delay(Timeout.Infinite, stopping);
        }, LoopFailurePolicy.Restart, _stop.Token);

        await Until("the failure to be reported", () => _supervisor.Failures.Count == 1);
        Assert.Contains("loop 'plugins-reloader' failed: IOException: plugin.dll is being copied; restarting", _supervisor.Failures[0], StringComparison.Ordinal);
        Assert.Equal(1, runs);
        _time.Advance(TimeSpan.FromSeconds(1));
        await Until("the restart", () => Volatile.Read(ref runs) == 2);
        Assert.Contains("restarted", Assert.Single(_supervisor.Failures), StringComparison.Ordinal);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Empty(_supervisor.Failures);
        Assert.False(_supervisor.Fatal.IsCancellationRequested);

        await _stop.CancelAsync();
        await loop;
    }

    [Fact]
    public async Task StopProcessPolicy_SignalsFatal_AndALoopThatEndsByItselfIsAFailure()
    {
        await _supervisor.Run("dispatcher", _ => Task.CompletedTask, LoopFailurePolicy.StopProcess, _stop.Token);

        Assert.True(_supervisor.Fatal.IsCancellationRequested);
        Assert.Equal("loop 'dispatcher' failed: InvalidOperationException: the loop ended although nothing asked it to stop", _supervisor.FatalError);
        Assert.Contains("the process stops", Assert.Single(_supervisor.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_IsNotAFailure()
    {
        var loop = _supervisor.Run("watchdog", stopping => Task.Delay(Timeout.Infinite, stopping), LoopFailurePolicy.Restart, _stop.Token);
        await _stop.CancelAsync();
        await loop;

        Assert.Empty(_supervisor.Failures);
    }
}
