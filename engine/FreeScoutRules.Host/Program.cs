using FreeScoutRules.Host.Cli;

return await CliApplication.RunAsync(args);
