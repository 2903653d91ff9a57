using System.CommandLine;
using FreeScoutRules.Host.Server;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules serve</c>: the webhook receiver and engine, on Kestrel with the embedded SQLite
/// database. Flags override appsettings.json and environment variables.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, e.g. http://127.0.0.1:5080 (default http://localhost:5000)." };
        var dataDir = new Option<string>("--data-dir") { Description = "The data directory holding the SQLite database (default ./data)." };
        var rules = new Option<string>("--rules") { Description = "The rules folder (default ./rules)." };
        var plugins = new Option<string>("--plugins") { Description = "The action plugins folder (default ./action-plugins)." };
        var insecure = new Option<bool>("--insecure-dev")
        {
            Description = "Local development only: accept deliveries without a valid signature when no secret is set. Warns loudly.",
        };
        var command = new Command("serve", "Receive FreeScout webhooks on POST /webhooks/freescout, store them durably and run them through the rules.")
        {
            urls, dataDir, rules, plugins, insecure,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            Put(flags, "urls", result.GetValue(urls));
            Put(flags, "Storage:DataDirectory", result.GetValue(dataDir));
            Put(flags, "Rules:Directory", result.GetValue(rules));
            Put(flags, "Rules:PluginsDirectory", result.GetValue(plugins));
            if (result.GetValue(insecure))
            {
                flags["Webhook:InsecureSkipSignature"] = "true";
            }

            return await RunAsync(flags, result.InvocationConfiguration.Error, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(Dictionary<string, string?> flags, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            await using var app = ServerApp.Build(flags);
            // Settings first, before the host starts (whose failure would be logged with a stack trace).
            app.Services.GetRequiredService<IStartupValidator>().Validate();
            // The data directory's lock, the database and the rules, before the host starts: a failure is one message.
            await app.Services.GetRequiredService<EngineService>().PrepareAsync(cancellationToken);
            var supervisor = app.Services.GetRequiredService<Engine.Supervision.LoopSupervisor>(); // RunAsync disposes the services
            await app.RunAsync(cancellationToken);
            if (supervisor.FatalError is { } fatal)
            {
                await error.WriteLineAsync($"The server stopped: {fatal}.");
                return ExitCodes.Failed;
            }

            return ExitCodes.Ok;
        }
        catch (Exception ex) when (ConfigurationFailures(ex) is { Count: > 0 } failures)
        {
            // One options validation, or several at once (an option whose validation reads another's throws both, wrapped).
            foreach (var failure in failures)
            {
                await error.WriteLineAsync($"configuration: {failure}");
            }

            await error.WriteLineAsync("Set these in appsettings.json next to the executable, in the environment (Section__Key, or the FREESCOUTRULES_* variables the README names) or with flags; the server did not start.");
            return ExitCodes.CannotRun;
        }
        catch (InvalidOperationException ex) when (ex.InnerException is not Engine.Rules.RuleCompilationException && ex.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            await error.WriteLineAsync($"configuration: {ex.Message} Set it in appsettings.json next to the executable, in the environment (Section__Key) or with flags; the server did not start.");
            return ExitCodes.CannotRun;
        }
        catch (Engine.Storage.StoreInUseException ex)
        {
            await error.WriteLineAsync(ex.Message);
            return ExitCodes.CannotRun;
        }
        catch (InvalidOperationException ex) when (ex.InnerException is Engine.Rules.RuleCompilationException)
        {
            await error.WriteLineAsync(ex.Message);
            await error.WriteLineAsync("The server did not start.");
            return ExitCodes.CannotRun;
        }
    }

    /// <summary>The failures of the options validations in <paramref name="exception"/> (alone or aggregated), each once; empty when it is something else.</summary>
    private static List<string> ConfigurationFailures(Exception exception) => exception switch
    {
        OptionsValidationException options => [.. options.Failures.Distinct(StringComparer.Ordinal)],
        AggregateException aggregate when aggregate.Flatten().InnerExceptions.All(e => e is OptionsValidationException) =>
            [.. aggregate.Flatten().InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures).Distinct(StringComparer.Ordinal)],
        _ => [],
    };

    private static void Put(Dictionary<string, string?> flags, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            flags[key] = value;
        }
    }
}
