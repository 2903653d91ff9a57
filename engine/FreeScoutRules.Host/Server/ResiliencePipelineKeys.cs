using System.Collections.Concurrent;
using System.Globalization;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// Which instance of the standard HTTP resilience pipeline (its circuit breaker and rate limiter) a request goes
/// through: one per authority (<c>scheme://host:port</c>, never user info), so that a failing target opens the circuit
/// of that target only. The pipeline registry keeps every instance it made for good, and rules can build URLs without
/// end (a host per customer…): the first <see cref="DistinctAuthorities"/> authorities seen get their own instance, and
/// any later one shares one of <see cref="SharedBuckets"/> instances chosen by its hash. Thread-safe.
/// </summary>
internal sealed class ResiliencePipelineKeys(int distinctAuthorities = ResiliencePipelineKeys.DefaultDistinctAuthorities, int sharedBuckets = ResiliencePipelineKeys.DefaultSharedBuckets)
{
    public const int DefaultDistinctAuthorities = 256;
    public const int DefaultSharedBuckets = 16;

    private readonly ConcurrentDictionary<string, string> _own = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public int DistinctAuthorities { get; } = distinctAuthorities;

    public int SharedBuckets { get; } = sharedBuckets;

    /// <summary>The key of <paramref name="uri"/>'s pipeline instance.</summary>
    public string For(Uri? uri)
    {
        if (uri is not { IsAbsoluteUri: true })
        {
            return "relative";
        }

        var authority = string.Create(CultureInfo.InvariantCulture, $"{uri.Scheme}://{uri.IdnHost}:{uri.Port}");
        if (_own.TryGetValue(authority, out var key))
        {
            return key;
        }

        lock (_gate)
        {
            if (_own.Count < DistinctAuthorities)
            {
                return _own.GetOrAdd(authority, authority);
            }
        }

        // The hash only has to be stable within the process, as the registry is.
        var bucket = (uint)StringComparer.Ordinal.GetHashCode(authority) % (uint)SharedBuckets;
        return string.Create(CultureInfo.InvariantCulture, $"shared-{bucket}");
    }
}
