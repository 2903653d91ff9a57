using System.Net;

namespace FreeScoutRules.Host.Settings;

/// <summary>
/// How many wrong tokens one client may present (console sign-in, admin API, metrics token), as a token bucket per
/// client (<c>Admin:Throttle:*</c>): <see cref="Burst"/> at once, then one more every <see cref="Refill"/>. Only a wrong
/// token takes from the bucket; a client whose bucket is empty is answered 429 with <c>Retry-After</c> before its token
/// is compared.
/// </summary>
internal sealed class ThrottleOptions
{
    /// <summary>Wrong tokens a client may present at once. Default 10.</summary>
    public int Burst { get; set; } = 10;

    /// <summary>One more wrong token allowed every this long. Default 6 seconds (10 a minute).</summary>
    public TimeSpan Refill { get; set; } = TimeSpan.FromSeconds(6);
}

/// <summary>
/// The reverse proxies whose <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are believed (<c>ForwardedHeaders:*</c>),
/// so that the client of a request (throttling, logs) and its scheme (cookies, the console's origin check) are the real
/// ones. None by default: the headers are ignored, whoever sends them. Lists are given as indexed keys
/// (<c>ForwardedHeaders:KnownProxies:0</c>) or as one value separated by commas (<c>ForwardedHeaders__KnownProxies=127.0.0.1,::1</c>).
/// </summary>
internal sealed class ForwardedHeadersSettings
{
    public const string Section = "ForwardedHeaders";

    /// <summary>Addresses of the proxies (<c>127.0.0.1</c>, <c>::1</c>, <c>10.0.0.5</c>).</summary>
    public List<string> KnownProxies { get; private set; } = [];

    /// <summary>Networks of the proxies in CIDR notation (<c>10.0.0.0/24</c>).</summary>
    public List<string> KnownNetworks { get; private set; } = [];

    /// <summary>How many proxies' entries of <c>X-Forwarded-For</c> are walked back (each must be a known proxy). Default 1.</summary>
    public int ForwardLimit { get; set; } = 1;

    /// <summary>True when any proxy is configured: only then are forwarded headers read at all.</summary>
    public bool Configured => KnownProxies.Count > 0 || KnownNetworks.Count > 0;

    public void ReadFrom(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        KnownProxies = List(section.GetSection(nameof(KnownProxies)));
        KnownNetworks = List(section.GetSection(nameof(KnownNetworks)));
        if (section[nameof(ForwardLimit)] is { Length: > 0 } limit)
        {
            ForwardLimit = int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : -1;
        }
    }

    public IEnumerable<IPAddress> Proxies() => KnownProxies.Select(IPAddress.Parse);

    public IEnumerable<IPNetwork> Networks() => KnownNetworks.Select(n => IPNetwork.Parse(n));

    /// <summary>One line per problem, naming the key.</summary>
    public List<string> Problems()
    {
        var problems = new List<string>();
        problems.AddRange(KnownProxies.Where(p => !IPAddress.TryParse(p, out _))
            .Select(p => $"{Section}:{nameof(KnownProxies)}: '{p}' is not an IP address such as 127.0.0.1 or ::1."));
        problems.AddRange(KnownNetworks.Where(n => !IPNetwork.TryParse(n, out _))
            .Select(n => $"{Section}:{nameof(KnownNetworks)}: '{n}' is not a network in CIDR notation such as 10.0.0.0/24."));
        if (ForwardLimit is < 1 or > 10)
        {
            problems.Add($"{Section}:{nameof(ForwardLimit)}: must be between 1 and 10.");
        }

        return problems;
    }

    private static List<string> List(IConfigurationSection section) =>
        [.. new[] { section.Value }.Concat(section.GetChildren().Select(c => c.Value))
            .SelectMany(v => (v ?? "").Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
}

/// <summary>Validates <see cref="ForwardedHeadersSettings"/>.</summary>
internal sealed class ForwardedHeadersSettingsValidator : Microsoft.Extensions.Options.IValidateOptions<ForwardedHeadersSettings>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, ForwardedHeadersSettings options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Problems();
        return problems.Count == 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Success : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>
/// Who may read what the server says about itself (<c>Observability:*</c>): <c>/metrics</c> (every rule and action
/// name, the database's size) and the reasons behind an unhealthy <c>/readyz</c> (a stuck rule, a failed loop).
/// Anonymous callers get <c>/metrics</c> refused (401) unless <see cref="PublicMetrics"/>, and from the probes only
/// the status word.
/// </summary>
internal sealed class ObservabilityOptions
{
    public const string Section = "Observability";

    /// <summary>
    /// A read-only bearer token for <c>/metrics</c> and the probes' reasons (Prometheus' <c>authorization: credentials</c>),
    /// as strong as the admin token must be and never the same. Also from <c>FREESCOUTRULES_METRICS_TOKEN</c>. The admin
    /// token is taken there too. None by default.
    /// </summary>
    public string? MetricsToken { get; set; }

    /// <summary>Serve <c>/metrics</c> to anyone, as 0.7 did (a scraper on a trusted network without a token). Default false.</summary>
    public bool PublicMetrics { get; set; }
}

/// <summary>The operator console (<c>Console:*</c>).</summary>
internal sealed class ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>
    /// The origin people open the console at, e.g. <c>https://rules.example.com</c> (scheme, host and port only): a
    /// console form posted with an <c>Origin</c> (or, without one, a <c>Referer</c>) naming another origin is refused
    /// (403). Unset: the request's own scheme and host, which behind a proxy that ends HTTPS is not what the browser
    /// sends (set this, or <c>ForwardedHeaders:KnownProxies</c> for the scheme and the proxy's <c>Host</c> header).
    /// </summary>
    public string? PublicOrigin { get; set; }

    /// <summary>
    /// With several instances on PostgreSQL: the secret that encrypts the console's sign-in keys, which the instances
    /// share in the database (<c>FREESCOUTRULES_CONSOLE_KEY</c>; at least 32 characters, not the admin token; the same on
    /// every instance; <c>freescout-rules token</c> prints one). Never stored: reading the database does not let anyone
    /// forge a sign-in. Unused with the embedded SQLite store (its keys stay in the data directory).
    /// </summary>
    public string? KeyEncryptionKey { get; set; }

    /// <summary><see cref="PublicOrigin"/> as <c>scheme://host[:port]</c>, or null when unset or not an origin.</summary>
    public string? Origin() => OriginOf(PublicOrigin, allowPath: false);

    /// <summary>The origin of an absolute http(s) URL (<c>https://a.example:8443</c>, default ports left out), or null.</summary>
    /// <param name="value">An <c>Origin</c> header, a <c>Referer</c>, a setting.</param>
    /// <param name="allowPath">A <c>Referer</c> has a path; an origin has none.</param>
    public static string? OriginOf(string? value, bool allowPath) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.UserInfo.Length == 0
        && (allowPath || (uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.Fragment.Length == 0))
            ? uri.GetLeftPart(UriPartial.Authority)
            : null;
}
