using System.Net.Http.Headers;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// How a CLI verb asks a running server to do something, through its admin API: the server's address
/// (<c>--url</c>, else its own <c>FREESCOUTRULES_URLS</c> or <c>urls</c> setting, else http://localhost:5000; <see cref="LocateAsync"/>) and the admin token
/// (<c>FREESCOUTRULES_ADMIN_TOKEN</c> or <c>Admin:Token</c>), read like <c>serve</c> reads them.
/// </summary>
internal static class AdminApiClient
{
    /// <summary>An answer from the server, or the exit code when there was none (what went wrong is on the error writer).</summary>
    public sealed record Answer(int? StatusCode, string Body, int ExitCode, string? Reason = null)
    {
        public bool IsSuccess => StatusCode is >= 200 and < 300;

        /// <summary>The answer as people read it: <c>409 Conflict: {body}</c>.</summary>
        public override string ToString() => $"{StatusCode} {Reason}: {Body}";
    }

    /// <summary>POSTs to <paramref name="path"/> (e.g. <c>/api/deliveries/7/rerun</c>) and returns the answer.</summary>
    public static async Task<Answer> PostAsync(string path, string? url, TimeSpan timeout, TextWriter error, CancellationToken cancellationToken)
    {
        if (EngineSettings.Load(new Dictionary<string, string?>(), error) is not { } settings)
        {
            return new Answer(null, "", ExitCodes.CannotRun);
        }

        if (await LocateAsync(url, settings.Urls, error) is not { } server)
        {
            return new Answer(null, "", ExitCodes.CannotRun);
        }

        if (string.IsNullOrEmpty(settings.Admin.Token))
        {
            await error.WriteLineAsync("No admin token: set FREESCOUTRULES_ADMIN_TOKEN (or Admin:Token) to the server's admin token.");
            return new Answer(null, "", ExitCodes.CannotRun);
        }

        using var http = new HttpClient { BaseAddress = server, Timeout = timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.Admin.Token);
        try
        {
            using var response = await http.PostAsync(new Uri(path, UriKind.Relative), null, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return new Answer((int)response.StatusCode, body, response.IsSuccessStatusCode ? ExitCodes.Ok : ExitCodes.BadInput, response.ReasonPhrase);
        }
        catch (HttpRequestException ex)
        {
            await error.WriteLineAsync($"{server}: {ex.Message} (is the server running? --url)");
            return new Answer(null, "", ExitCodes.CannotRun);
        }
    }

    /// <summary>
    /// The running server, found from the same settings <c>serve</c> reads, first that is set: <c>--url</c>,
    /// <c>FREESCOUTRULES_URLS</c> or the <c>urls</c> setting (appsettings.json, the environment), <c>ASPNETCORE_URLS</c>,
    /// else http://localhost:5000. Says on <paramref name="error"/> which it used (a verb that reaches the wrong server
    /// should say so), or why <paramref name="url"/> is not an address, and then returns <c>null</c>.
    /// </summary>
    public static async Task<Uri?> LocateAsync(string? url, string? urlsSetting, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var (value, source) =
            !string.IsNullOrEmpty(url) ? (url, "--url")
            : Environment.GetEnvironmentVariable("FREESCOUTRULES_URLS") is { Length: > 0 } variable ? (variable, "FREESCOUTRULES_URLS")
            : !string.IsNullOrEmpty(urlsSetting) ? (urlsSetting, "the urls setting")
            : Environment.GetEnvironmentVariable("ASPNETCORE_URLS") is { Length: > 0 } aspnet ? (aspnet, "ASPNETCORE_URLS")
            : ((string?)null, "the default; set FREESCOUTRULES_URLS as serve has it, or give --url");
        if (ServerAddress(value) is not { } address)
        {
            await error.WriteLineAsync($"{(source == "--url" ? "--url" : source)}: '{value}' is not an http(s) address such as http://127.0.0.1:5080.");
            return null;
        }

        await error.WriteLineAsync($"server: {address} (from {source})");
        return address;
    }

    /// <summary>
    /// Where to reach a server: <paramref name="value"/> (an address, or the first of a server's
    /// <c>urls</c>, whose wildcard hosts are reached on localhost), or http://localhost:5000.
    /// </summary>
    internal static Uri? ServerAddress(string? value)
    {
        var first = value?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "http://localhost:5000";
        if (!first.Contains("://", StringComparison.Ordinal))
        {
            first = "http://" + first;
        }

        first = first.Replace("://0.0.0.0", "://localhost", StringComparison.Ordinal).Replace("://+", "://localhost", StringComparison.Ordinal)
            .Replace("://*", "://localhost", StringComparison.Ordinal).Replace("://[::]", "://localhost", StringComparison.Ordinal);
        return Uri.TryCreate(first, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : null;
    }

    /// <summary><c>--url</c>: the running server.</summary>
    public static System.CommandLine.Option<string> UrlOption() => new("--url")
    {
        Description = "The running server, e.g. http://127.0.0.1:5080. Default: the server's own setting (FREESCOUTRULES_URLS, urls), else http://localhost:5000.",
    };
}
