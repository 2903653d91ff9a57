using System.CommandLine;

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
        var url = AdminApiClient.UrlOption();
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
        var answer = await AdminApiClient.PostAsync(path, url, TimeSpan.FromSeconds(60), error, cancellationToken);
        if (answer.StatusCode is null)
        {
            return answer.ExitCode;
        }

        if (!answer.IsSuccess)
        {
            await error.WriteLineAsync(answer.ToString());
            return ExitCodes.BadInput;
        }

        await output.WriteLineAsync(answer.Body);
        using var document = System.Text.Json.JsonDocument.Parse(answer.Body);
        if (document.RootElement.TryGetProperty("skipped", out var skipped) && skipped.GetArrayLength() > 0)
        {
            foreach (var item in skipped.EnumerateArray())
            {
                await error.WriteLineAsync($"delivery {item.GetProperty("id").GetInt64()} not re-run: {item.GetProperty("reason").GetString()}");
            }

            return ExitCodes.BadInput;
        }

        return ExitCodes.Ok;
    }
}
