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
        var command = new Command("check", "Compile the rules and print their diagnostics; exit non-zero on an error.") { rules, severity };
        command.SetAction((result, _) => CommonOptions.ParseSeverities(result.GetValue(severity), result.InvocationConfiguration.Error) is { } severities
            ? RunAsync(result.GetRequiredValue(rules), severities, result.InvocationConfiguration.Output, result.InvocationConfiguration.Error)
            : Task.FromResult(ExitCodes.CannotRun));
        return command;
    }

    internal static async Task<int> RunAsync(DirectoryInfo rulesDirectory, RuleDiagnosticSeverities severities, TextWriter output, TextWriter error)
    {
        try
        {
            var generation = RuleSetCompiler.Compile(rulesDirectory.ToString(), severities: severities);
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

            return ExitCodes.Ok;
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
