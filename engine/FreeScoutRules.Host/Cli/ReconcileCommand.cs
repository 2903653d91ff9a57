using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules reconcile [--since TIME] [--url URL]</c>: runs a reconciliation pass with FreeScout's REST API
/// now, on a running server through its admin API (the server owns the database and reads FreeScout with its own
/// connection and rate), and prints what it found. With <c>--since</c> the pass starts there instead of at the
/// watermark, for example to learn the state of every conversation when a server is first installed; the watermark
/// never moves back.
/// </summary>
internal static class ReconcileCommand
{
    public static Command Create()
    {
        var since = new Option<DateTimeOffset?>("--since")
        {
            Description = "Start at this time (e.g. 2026-01-01 or 2026-11-30T08:00:00Z; UTC unless an offset is given) instead of the watermark.",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value))
                {
                    return value;
                }

                result.AddError($"--since: '{text}' is not a time such as 2026-01-01 or 2026-11-30T08:00:00Z.");
                return null;
            },
        };
        var url = AdminApiClient.UrlOption();
        var command = new Command(
            "reconcile",
            "Run a reconciliation pass with FreeScout's REST API now, on a running server (through its admin API: FREESCOUTRULES_ADMIN_TOKEN), "
            + "and print what it found. The server reads FreeScout with its own connection (FREESCOUTRULES_FREESCOUT_URL and _API_KEY set on the server). "
            + "Ctrl+C stops waiting; the pass goes on on the server (GET /api/reconciliation). Exit codes: 0 done, 1 refused (a bad --since, the token, "
            + "no FreeScout connection on the server, another instance holding the reconciliation lease: it says which, ask that one), 2 could not ask (no token here, the server unreachable), 3 the pass failed (FreeScout unreachable, a wrong key) or stopped (the server lost the reconciliation lease to another instance).")
        {
            since,
            url,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            result.GetValue(since), result.GetValue(url), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(DateTimeOffset? since, string? url, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var path = "/api/reconciliation/passes" + (since is { } at ? "?since=" + Uri.EscapeDataString(at.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture)) : "");
        // A backfill pages through many conversations at the server's polite rate: wait for it as long as it takes.
        var answer = await AdminApiClient.PostAsync(path, url, Timeout.InfiniteTimeSpan, error, cancellationToken);
        if (answer.StatusCode is null)
        {
            return answer.ExitCode;
        }

        if (!TryRead(answer.Body, out var pass))
        {
            await error.WriteLineAsync(answer.ToString());
            return ExitCodes.BadInput;
        }

        var summary = string.Create(CultureInfo.InvariantCulture,
            $"Listed {pass.Listed} conversations updated since {pass.Since:u} in {pass.Requests} requests: {pass.Stored} newer snapshots stored, {pass.NotNewer} not newer, {pass.Duplicates} stored before, {pass.Invalid} invalid; watermark {(pass.Watermark is { } w ? w.ToString("u", CultureInfo.InvariantCulture) : "none")}.");
        if (pass.Error is { } failure)
        {
            await error.WriteLineAsync($"{summary}{Environment.NewLine}The pass failed: {failure}");
            return ExitCodes.Failed;
        }

        if (pass.LeaseLost is { } lost)
        {
            await error.WriteLineAsync($"{summary}{Environment.NewLine}The pass stopped before its end: the server lost the reconciliation lease ({lost}); the instance holding it goes on from the watermark.");
            return ExitCodes.Failed;
        }

        await output.WriteLineAsync(summary);
        if (pass.LeftForNextPass > 0)
        {
            await output.WriteLineAsync($"{pass.LeftForNextPass} conversations updated within Reconciliation:SettleTime were left to their webhooks, for the next pass.");
        }

        if (pass.StoredConversations.Count > 0)
        {
            await output.WriteLineAsync($"Stored: {string.Join(", ", pass.StoredConversations.Select(n => "#" + n.ToString(CultureInfo.InvariantCulture)))}{(pass.Stored > pass.StoredConversations.Count ? ", …" : "")}; the server runs them through the rules now, as deliveries with the event reconciliation.");
        }

        return ExitCodes.Ok;
    }

    private static bool TryRead(string body, out Engine.Reconciliation.ReconciliationPass pass)
    {
        pass = null!;
        try
        {
            pass = JsonSerializer.Deserialize<Engine.Reconciliation.ReconciliationPass>(body, JsonSerializerOptions.Web)!;
            return pass is not null && pass.StoredConversations is not null;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
