using FreeScoutRules.Host.Cli;

return await CliApplication.Build().Parse(args).InvokeAsync();
