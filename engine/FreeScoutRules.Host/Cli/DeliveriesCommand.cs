using System.CommandLine;
using System.Net.Http.Headers;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules deliveries rerun (--id N | --parked) [--url URL]</c>: re-runs real work on a running
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
        var url = new Option<Uri>("--url")
        {
            Description = "The running server (default http://localhost:5000).",
            DefaultValueFactory = _ => new Uri("http://localhost:5000"),
        };
        var rerun = new Command("rerun", "Put deliveries back in line on a running server, to run with the rules now in force.") { id, parked, url };
        rerun.Validators.Add(result =>
        {
            if ((result.GetValue(id) is null) == !result.GetValue(parked))
            {
                result.AddError("Give either --id N or --parked.");
            }
        });
        rerun.SetAction((result, cancellationToken) => RerunAsync(
            result.GetValue(id), result.GetRequiredValue(url), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return new Command("deliveries", "Stored deliveries on a running server: re-run parked ones, or done ones on which a rule failed.") { rerun };
    }

    private static async Task<int> RerunAsync(long? id, Uri server, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (EngineSettings.Load(new Dictionary<string, string?>(), error) is not { } settings)
        {
            return ExitCodes.CannotRun;
        }

        if (string.IsNullOrEmpty(settings.Admin.Token))
        {
            await error.WriteLineAsync("No admin token: set FREESCOUTRULES_ADMIN_TOKEN (or Admin:Token) to the server's admin token.");
            return ExitCodes.CannotRun;
        }

        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.Admin.Token);
        var path = id is { } one ? $"/api/deliveries/{one}/rerun" : "/api/deliveries/rerun?outcome=parked";
        try
        {
            using var response = await http.PostAsync(new Uri(path, UriKind.Relative), null, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                await output.WriteLineAsync(body);
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
}
