namespace FreeScoutRules.Engine.Timers;

/// <summary>
/// Wakes the <see cref="TimerLoop"/> when a commit schedules a timer due before the loop's planned wake-up,
/// without missing one committed while the loop was reading the next due time: the loop
/// <see cref="Arm"/>s before it reads, and <see cref="SleepAsync"/> returns at once when something due
/// before its plan was scheduled since. Thread-safe.
/// </summary>
internal sealed class TimerSignal
{
    private readonly Lock _gate = new();
    private DateTimeOffset _earliestSinceArm = DateTimeOffset.MaxValue;
    private DateTimeOffset? _wakeAt;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A commit scheduled a timer due at <paramref name="due"/>.</summary>
    public void Scheduled(DateTimeOffset due)
    {
        lock (_gate)
        {
            if (due < _earliestSinceArm)
            {
                _earliestSinceArm = due;
            }

            if (_wakeAt is { } wakeAt && due < wakeAt)
            {
                _wake.TrySetResult();
            }
        }
    }

    /// <summary>Starts remembering schedulings; call before reading the next due time.</summary>
    public void Arm()
    {
        lock (_gate)
        {
            _earliestSinceArm = DateTimeOffset.MaxValue;
            _wakeAt = null;
            if (_wake.Task.IsCompleted)
            {
                _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Waits until <paramref name="wakeAt"/>, or until a timer due before it is scheduled (or was, since <see cref="Arm"/>).</summary>
    public async Task SleepAsync(DateTimeOffset wakeAt, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        Task wake;
        lock (_gate)
        {
            if (_earliestSinceArm < wakeAt)
            {
                return;
            }

            _wakeAt = wakeAt;
            wake = _wake.Task;
        }

        var delay = wakeAt - time.GetUtcNow();
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sleep = Task.Delay(delay, time, stop.Token);
        await Task.WhenAny(wake, sleep);
        await stop.CancelAsync(); // the delay's timer, when woken early
        cancellationToken.ThrowIfCancellationRequested();
    }
}
