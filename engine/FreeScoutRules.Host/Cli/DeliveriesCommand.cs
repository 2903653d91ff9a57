using System.CommandLine;
using System.Net.Http.Headers;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules deliveries rerun (--id N | --parked | --rule-failed) [--url URL]</c>: re-runs real work on a running
/// server through its admin API (token from <c>FREESCOUTRULES_ADMIN_TOKEN</c> or <c>Admin:Token</c>), so
/// that the server's own dispatcher runs it in its conversation's order with the rules in force. Not to
/// be confused with <c>replay</c>, a dry run against history that changes nothing.
/// </summary>
internal static class DeliveriesCommand
{
    public static Command Create()
    {
        var id = new Option<long?>("--id") { Description = "The delivery to re-run: a parked one, or a done one on which a rule failed." };
        var parked = new Option<bool>("--parked") { Description = "Re-run every parked delivery." };
        var ruleFailed = new Option<bool>("--rule-failed") { Description = "Re-run every done delivery on which a rule failed." };
        var url = new Option<string>("--url")
        {
            Description = "The running server, e.g. http://127.0.0.1:5080. Default: the server's own setting (urls, --urls of serve), else http://localhost:5000.",
        };
        var rerun = new Command("rerun", "Put deliveries back in line on a running server, to run with the rules now in force.") { id, parked, ruleFailed, url };
        rerun.Validators.Add(result =>
        {
            if ((result.GetValue(id) is null ? 0 : 1) + (result.GetValue(parked) ? 1 : 0) + (result.GetValue(ruleFailed) ? 1 : 0) != 1)
            {
                result.AddError("Give one of --id N, --parked or --rule-failed.");
            }
        });
        rerun.SetAction((result, cancellationToken) => RerunAsync(
            result.GetValue(id) is { } one ? $"/api/deliveries/{one}/rerun"
                : result.GetValue(parked) ? "/api/deliveries/rerun?outcome=parked" : "/api/deliveries/rerun?ruleFailed=true",
            result.GetValue(url), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return new Command("deliveries", "Stored deliveries on a running server: re-run parked ones, or done ones on which a rule failed.") { rerun };
    }

    private static async Task<int> RerunAsync(string path, string? url, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (EngineSettings.Load(new Dictionary<string, string?>(), error) is not { } settings)
        {
            return ExitCodes.CannotRun;
        }

        if (ServerAddress(url ?? settings.Urls) is not { } server)
        {
            await error.WriteLineAsync($"--url: '{url}' is not an http(s) address such as http://127.0.0.1:5080.");
            return ExitCodes.CannotRun;
        }

        if (string.IsNullOrEmpty(settings.Admin.Token))
        {
            await error.WriteLineAsync("No admin token: set FREESCOUTRULES_ADMIN_TOKEN (or Admin:Token) to the server's admin token.");
            return ExitCodes.CannotRun;
        }

        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.Admin.Token);
        try
        {
            using var response = await http.PostAsync(new Uri(path, UriKind.Relative), null, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                await output.WriteLineAsync(body);
                using var answer = System.Text.Json.JsonDocument.Parse(body);
                if (answer.RootElement.TryGetProperty("skipped", out var skipped) && skipped.GetArrayLength() > 0)
                {
                    foreach (var item in skipped.EnumerateArray())
                    {
                        await error.WriteLineAsync($"delivery {item.GetProperty("id").GetInt64()} not re-run: {item.GetProperty("reason").GetString()}");
                    }

                    return ExitCodes.BadInput;
                }

                return ExitCodes.Ok;
            }

            await error.WriteLineAsync($"{(int)response.StatusCode} {response.ReasonPhrase}: {body}");
            return ExitCodes.BadInput;
        }
        catch (HttpRequestException ex)
        {
            await error.WriteLineAsync($"{server}: {ex.Message} (is the server running? --url)");
            return ExitCodes.CannotRun;
        }
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
}
