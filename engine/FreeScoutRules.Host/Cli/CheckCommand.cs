using System.CommandLine;
using FreeScoutRules.Engine.Rules;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules check --rules DIR</c>: compiles a rules folder exactly as the server would and
/// prints its diagnostics like a compiler; exits 2 on any error, so it can gate a CI pipeline.
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var rules = CommonOptions.RulesFolder();
        var severity = CommonOptions.Severity();
        var plugins = CommonOptions.PluginsFolder("The plugins folder: loads the plugins (reporting broken ones) and checks every action the rules enqueue exists (FSR0003) and is configured (FSR0008).");
        var command = new Command("check", "Compile the rules (and plugins) and print their diagnostics; exit non-zero on an error.") { rules, plugins, severity };
        command.SetAction((result, _) => RunAsync(
            CommonOptions.Flags(result.GetValue(rules), null, result.GetValue(severity), result.InvocationConfiguration.Error),
            result.GetValue(plugins), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error));
        return command;
    }

    internal static async Task<int> RunAsync(
        Dictionary<string, string?>? flags, DirectoryInfo? pluginsDirectory, TextWriter output, TextWriter error)
    {
        if (flags is null || Settings.EngineSettings.Load(flags, error) is not { } settings)
        {
            return ExitCodes.CannotRun;
        }

        var rulesDirectory = settings.Rules.Directory;
        var checks = settings.Checks();
        var pluginErrors = 0;
        if (pluginsDirectory is not null)
        {
            var plugins = await CommonOptions.LoadPluginsAsync(pluginsDirectory, error);
            checks = settings.Checks(plugins);
            var actions = checks.Actions!;
            pluginErrors = plugins.Problems.Count;
            await output.WriteLineAsync($"{pluginsDirectory}: {actions.Count} actions ({string.Join(", ", actions.Order(StringComparer.Ordinal))}), {pluginErrors} plugins not loaded");
        }

        try
        {
            var generation = RuleSetCompiler.Compile(rulesDirectory, CommonOptions.CompileCache(settings), settings.Severities, checks, settings.Rules.DirectoryOptional);
            foreach (var warning in generation.Warnings)
            {
                await error.WriteLineAsync(warning.ToString());
            }

            var files = generation.Rules.Select(r => r.File).Distinct(StringComparer.Ordinal).Count();
            await output.WriteLineAsync(
                $"{rulesDirectory}: {generation.Rules.Count} rules in {files} files compiled, {generation.Warnings.Count} warnings, 0 errors (generation {generation.ContentHash[..12]})");
            foreach (var rule in generation.Rules)
            {
                await output.WriteLineAsync($"  {rule.Name}  ({Path.GetFileName(rule.File)})");
            }

            if (pluginsDirectory is null)
            {
                await output.WriteLineAsync("Actions not checked: add --plugins DIR (the server's plugins folder) to check each action the rules name exists and is configured (FSR0003, FSR0008).");
            }

            return pluginErrors == 0 ? ExitCodes.Ok : ExitCodes.CannotRun;
        }
        catch (RuleCompilationException ex)
        {
            foreach (var diagnostic in ex.Diagnostics)
            {
                await error.WriteLineAsync(diagnostic.ToString());
            }

            var errors = ex.Diagnostics.Count(d => d.IsError);
            await error.WriteLineAsync($"{rulesDirectory}: {errors} errors, {ex.Diagnostics.Count - errors} warnings");
            return ExitCodes.CannotRun;
        }
    }
}
