namespace FreeScoutRules.Engine.FreeScoutApi;

/// <summary>
/// Keeps requests to FreeScout at most <c>rate</c> a second, strictly: each one starts no sooner than 1/rate after
/// the one before (retries too, since it sits inside the retry pipeline). The library's token bucket keeps the
/// average but lets two requests through a tick apart; a PHP application on a small server is better served by
/// an even pace. Shared by the client's handlers (the factory renews them every few minutes). Thread-safe.
/// </summary>
internal sealed class RequestPacer(double rate, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly TimeSpan _spacing = TimeSpan.FromSeconds(1 / rate);
    private long? _last;

    /// <summary>Waits for this request's turn.</summary>
    public async Task WaitTurnAsync(CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            if (_last is { } last && time.GetElapsedTime(last) is var since && since < _spacing)
            {
                await Task.Delay(_spacing - since, time, cancellationToken);
            }

            _last = time.GetTimestamp();
        }
        finally
        {
            _turn.Release();
        }
    }

    public void Dispose() => _turn.Dispose();

    /// <summary>The handler of one client: each request waits for its turn at the shared pacer.</summary>
    public sealed class Handler(RequestPacer pacer) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await pacer.WaitTurnAsync(cancellationToken);
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
