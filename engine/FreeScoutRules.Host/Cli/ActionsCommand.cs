using System.CommandLine;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules actions list --data-dir DIR [--state dead]</c> and
/// <c>freescout-rules actions retry --data-dir DIR --id N</c>: the outbox of a server, from the shell.
/// Safe while the server runs (SQLite serialises the writers; the server picks a retried intent up
/// at its next poll).
/// </summary>
internal static class ActionsCommand
{
    public static Command Create()
    {
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "The server's data directory.", Required = true };
        var state = new Option<string?>("--state") { Description = "pending, done or dead." };
        var id = new Option<long>("--id") { Description = "The action intent to retry (a dead one).", Required = true };
        var list = new Command("list", "List action intents with their attempts, newest first.") { dataDir, state };
        list.SetAction((result, cancellationToken) => ListAsync(result.GetRequiredValue(dataDir), result.GetValue(state), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        var retry = new Command("retry", "Put a dead action intent back in line with fresh attempts.") { dataDir, id };
        retry.SetAction((result, cancellationToken) => RetryAsync(result.GetRequiredValue(dataDir), result.GetValue(id), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return new Command("actions", "The outbox of action intents: list them, retry dead ones.") { list, retry };
    }

    private static async Task<int> ListAsync(DirectoryInfo dataDir, string? state, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (Database(dataDir, readOnly: true, error) is not { } database)
        {
            return ExitCodes.CannotRun;
        }

        foreach (var intent in await new OutboxQueries(database).ListAsync(null, state, 1000, cancellationToken))
        {
            await output.WriteLineAsync(
                $"{intent.Id}  {intent.State,-7}  {intent.Action}  rule {intent.Rule}  conversation {intent.ConversationId}  delivery {intent.DeliveryId}  attempts {intent.Attempts}{(intent.LastError is null ? "" : "  " + intent.LastError)}");
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> RetryAsync(DirectoryInfo dataDir, long id, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (Database(dataDir, readOnly: false, error) is not { } database)
        {
            return ExitCodes.CannotRun;
        }

        var options = new StorageOptions { DataDirectory = dataDir.FullName };
        var writer = new InboxWriter(database, options, NullLogger<InboxWriter>.Instance);
        var loop = writer.RunAsync(cancellationToken);
        var retried = await writer.SubmitAsync(new RetryDeadIntentOperation(id), cancellationToken);
        writer.Complete();
        await loop;
        if (!retried)
        {
            await error.WriteLineAsync($"action intent {id} does not exist or is not dead; only dead intents are retried.");
            return ExitCodes.BadInput;
        }

        await output.WriteLineAsync($"action intent {id} is back in line.");
        return ExitCodes.Ok;
    }

    private static SqliteDatabase? Database(DirectoryInfo dataDir, bool readOnly, TextWriter error)
    {
        var options = new StorageOptions { DataDirectory = dataDir.FullName };
        if (File.Exists(options.DatabasePath))
        {
            return new SqliteDatabase(options, readOnly);
        }

        error.WriteLine($"{options.DatabasePath}: no database here (give the server's --data-dir).");
        return null;
    }
}
