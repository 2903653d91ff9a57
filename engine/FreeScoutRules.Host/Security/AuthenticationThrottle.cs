using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using FreeScoutRules.Host.Settings;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Security;

/// <summary>
/// Throttles guessing of the server's tokens: one token bucket per client (<see cref="PartitionedRateLimiter"/> of
/// System.Threading.RateLimiting, partitioned by <see cref="ClientOf"/>), shared by the console's sign-in, the admin
/// API's bearer token and the metrics token. Only a wrong token takes a permit; a client with none left is refused
/// (429, <c>Retry-After</c>) before its token is compared, so the operator signing in from another address is not
/// locked out by an attacker. What was refused is logged once a minute per client, with counts, never once per try.
/// </summary>
internal sealed partial class AuthenticationThrottle : IDisposable
{
    /// <summary>How often the counts are logged.</summary>
    public static readonly TimeSpan LogPeriod = TimeSpan.FromMinutes(1);

    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly ConcurrentDictionary<string, Tally> _tallies = new(StringComparer.Ordinal);
    private readonly ThrottleOptions _options;
    private readonly bool _proxiesKnown;
    private readonly ITimer _log;
    private readonly ILogger _logger;

    public AuthenticationThrottle(IOptions<AdminOptions> admin, IOptions<ForwardedHeadersSettings> forwarded, TimeProvider time, ILogger<AuthenticationThrottle> logger)
    {
        ArgumentNullException.ThrowIfNull(time);
        _options = admin.Value.Throttle;
        _proxiesKnown = forwarded.Value.Configured;
        _logger = logger;
        var options = _options;
        // AutoReplenishment off: the partitioned limiter's own heartbeat refills every partition (one timer, not one per
        // client), and drops the partitions that are full and idle, so memory holds only clients that failed lately.
        _limiter = PartitionedRateLimiter.Create<string, string>(client => RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.Burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = options.Refill,
            QueueLimit = 0,
            AutoReplenishment = false,
        }));
        _log = time.CreateTimer(_ => LogAndReset(), null, LogPeriod, LogPeriod);
    }

    /// <summary>What was refused: the surface's name in the log line.</summary>
    public const string ConsoleSignIn = "console sign-in";

    public const string AdminApi = "admin API";

    public const string Metrics = "metrics";

    public const string Health = "health details";

    /// <summary>
    /// Before a token is compared: <c>null</c> when <paramref name="http"/>'s client may present one, else how long until
    /// it may (the request is then counted as refused unchecked).
    /// </summary>
    public TimeSpan? Refusal(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var client = ClientOf(http.Connection.RemoteIpAddress);
        // A whole permit left? (Not AttemptAcquire(0): the bucket refills by fractions between whole permits, and a
        // fraction passes that probe while a wrong token could then take nothing.)
        if (_limiter.GetStatistics(client) is not { CurrentAvailablePermits: < 1 })
        {
            return null;
        }

        Count(client, tally => tally.Throttled++);
        using var lease = _limiter.AttemptAcquire(client, 1); // fails (none left): its Retry-After says when one is
        return !lease.IsAcquired && lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) && retryAfter > TimeSpan.Zero ? retryAfter : _options.Refill;
    }

    /// <summary>A wrong token from <paramref name="http"/>'s client at <paramref name="surface"/>: takes one permit.</summary>
    public void Failed(HttpContext http, string surface)
    {
        ArgumentNullException.ThrowIfNull(http);
        var client = ClientOf(http.Connection.RemoteIpAddress);
        using (_limiter.AttemptAcquire(client, 1))
        {
        }

        Count(client, tally => tally.Failed[surface] = tally.Failed.GetValueOrDefault(surface) + 1);
    }

    /// <summary>The <c>Retry-After</c> value of a 429: whole seconds, at least 1.</summary>
    public static string RetryAfterSeconds(TimeSpan wait) =>
        Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The client a request is throttled as: its address (after forwarded headers from known proxies), IPv4-mapped
    /// addresses as IPv4, and IPv6 addresses by their /64 (one subscriber's whole prefix is one client, as a host has
    /// as many addresses in it as it likes).
    /// </summary>
    public static string ClientOf(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return $"{new IPAddress(bytes)}/64";
    }

    public void Dispose()
    {
        _log.Dispose();
        LogAndReset(); // the last, partial minute too (the logger factory outlives this singleton)
        _limiter.Dispose();
    }

    /// <summary>One line per client that was refused since the last one, with the counts; then starts counting again.</summary>
    internal void LogAndReset()
    {
        foreach (var client in _tallies.Keys)
        {
            if (!_tallies.TryRemove(client, out var tally))
            {
                continue;
            }

            int failed, throttled;
            string where;
            lock (tally)
            {
                tally.Closed = true;
                failed = tally.Failed.Values.Sum();
                throttled = tally.Throttled;
                where = string.Join(", ", tally.Failed.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key} {f.Value}"));
            }

            var hint = !_proxiesKnown && IPAddress.TryParse(client, out var address) && IPAddress.IsLoopback(address)
                ? " Every client of a reverse proxy on this host has this address and shares its limit: set ForwardedHeaders:KnownProxies."
                : "";
            LogRefused(_logger, client, failed, where.Length == 0 ? "none compared" : where, throttled, hint);
        }
    }

    private void Count(string client, Action<Tally> count)
    {
        while (true)
        {
            var tally = _tallies.GetOrAdd(client, _ => new Tally());
            lock (tally)
            {
                if (!tally.Closed)
                {
                    count(tally);
                    return;
                }
            }
        }
    }

    [LoggerMessage(EventId = 12101, Level = LogLevel.Warning,
        Message = "Wrong tokens from {Client} in the last minute: {Failed} ({Where}); {Throttled} more refused without being compared (429, Admin:Throttle).{Hint}")]
    private static partial void LogRefused(ILogger logger, string client, int failed, string where, int throttled, string hint);

    /// <summary>What one client was refused since the last log line.</summary>
    private sealed class Tally
    {
        public Dictionary<string, int> Failed { get; } = new(StringComparer.Ordinal);

        public int Throttled { get; set; }

        public bool Closed { get; set; }
    }
}
