using System.CommandLine;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules actions list --data-dir DIR [--state dead]</c> (reads the database, read-only, beside the running
/// server) and <c>freescout-rules actions retry --id N [--url URL]</c> (asks the running server through its admin API:
/// only the server writes its database).
/// </summary>
internal static class ActionsCommand
{
    public static Command Create()
    {
        var dataDir = CommonOptions.DataDirectory("The server's data directory.");
        var state = new Option<string?>("--state") { Description = "pending, done or dead." };
        var id = new Option<long>("--id") { Description = "The action intent to retry (a dead one).", Required = true };
        var url = AdminApiClient.UrlOption();
        var list = new Command("list", "List action intents with their attempts, newest first.") { dataDir, state };
        list.SetAction((result, cancellationToken) => ListAsync(result.GetValue(dataDir), result.GetValue(state), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        var retry = new Command("retry", "Put a dead action intent back in line with fresh attempts, on the running server (admin API; FREESCOUTRULES_ADMIN_TOKEN).") { id, url };
        retry.SetAction((result, cancellationToken) => RetryAsync(result.GetValue(id), result.GetValue(url), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return new Command("actions", "The outbox of action intents: list them, retry dead ones.") { list, retry };
    }

    private static async Task<int> ListAsync(DirectoryInfo? dataDir, string? state, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (Database(dataDir, error) is not { } database)
        {
            return ExitCodes.CannotRun;
        }

        var intents = await database.Outbox.ListAsync(null, state, 1000, cancellationToken);
        foreach (var intent in intents)
        {
            await output.WriteLineAsync(
                $"{intent.Id}  {intent.State,-7}  {intent.Action}  rule {intent.Rule}  conversation {intent.ConversationId}  delivery {intent.DeliveryId}  attempts {intent.Attempts}{(intent.LastError is null ? "" : "  " + intent.LastError)}");
        }

        if (intents.Count == 0)
        {
            // Said, not left blank: an empty answer reads like a verb that did nothing.
            await output.WriteLineAsync(state is null ? "No action intents." : $"No action intents in state {state}.");
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> RetryAsync(long id, string? url, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var answer = await AdminApiClient.PostAsync($"/api/actions/{id}/retry", url, TimeSpan.FromSeconds(30), error, cancellationToken);
        if (answer.StatusCode is null)
        {
            return answer.ExitCode;
        }

        if (!answer.IsSuccess)
        {
            await error.WriteLineAsync(answer.ToString());
            return ExitCodes.BadInput;
        }

        await output.WriteLineAsync($"action intent {id} is back in line.");
        return ExitCodes.Ok;
    }

    private static StoreReader? Database(DirectoryInfo? dataDir, TextWriter error) =>
        EngineSettings.Load(CommonOptions.Flags(null, dataDir, null, error)!, error) is { } settings
            ? CommonOptions.ServerStore(settings, error)
            : null;
}
