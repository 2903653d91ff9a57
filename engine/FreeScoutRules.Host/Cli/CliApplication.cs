using System.CommandLine;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>The <c>freescout-rules</c> command line: one verb a class.</summary>
internal static class CliApplication
{
    /// <summary><c>--config FILE</c>, for every verb: a JSON settings file (as appsettings.json), for an installed tool.</summary>
    private static Option<FileInfo> Config() => new("--config")
    {
        Description = $"A JSON settings file (as appsettings.json), above appsettings.json and below the environment; also {AppConfiguration.ConfigVariable}.",
        Recursive = true,
    };

    public static RootCommand Build() =>
        new("FreeScoutRules: turns FreeScout webhooks into facts, runs C# script rules on them, and triggers actions.")
        {
            Config(),
            ServeCommand.Create(),
            TestCommand.Create(),
            CheckCommand.Create(),
            ExplainCommand.Create(),
            ReplayCommand.Create(),
            ActionsCommand.Create(),
            DeliveriesCommand.Create(),
            ReconcileCommand.Create(),
            StorageCommand.Create(),
            SendCommand.Create(),
            TokenCommand.Create(),
        };

    /// <summary>
    /// Runs the verb <paramref name="args"/> name. <c>--config FILE</c> becomes <see cref="AppConfiguration.ConfigVariable"/>
    /// for this process, so that every way the verb reads settings reads the file (one path, not a parameter threaded
    /// through each); a file that does not exist stops here, in one line.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build();
        var parsed = root.Parse(args);
        if (parsed.GetValue(root.Options.OfType<Option<FileInfo>>().Single(o => o.Name == "--config")) is { } file)
        {
            Environment.SetEnvironmentVariable(AppConfiguration.ConfigVariable, file.FullName);
        }

        if (AppConfiguration.ConfigFile() is { } settings)
        {
            if (!File.Exists(settings))
            {
                await Console.Error.WriteLineAsync($"--config ({AppConfiguration.ConfigVariable}): {settings} does not exist.");
                return ExitCodes.CannotRun;
            }

            try
            {
                // Read once here: a file that is not JSON stops every verb in one line, not with the loader's stack trace.
                new ConfigurationBuilder().AddJsonFile(settings, optional: false).Build();
            }
            catch (InvalidDataException ex)
            {
                await Console.Error.WriteLineAsync($"--config ({AppConfiguration.ConfigVariable}): {settings} is not a JSON settings file: {ex.InnerException?.Message ?? ex.Message}");
                return ExitCodes.CannotRun;
            }
        }

        return await parsed.InvokeAsync();
    }
}
