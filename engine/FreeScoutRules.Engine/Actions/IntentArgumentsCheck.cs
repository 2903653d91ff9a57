using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Plugins;

namespace FreeScoutRules.Engine.Actions;

/// <summary>
/// What the action runner's first steps would make of an intent, without running it (<c>test --plugins DIR</c>): the
/// secrets put where the rule put their references (<see cref="SecretStore.ResolveForAttempt"/>, as an attempt does),
/// then the plugin's own binding and validation of the arguments (<see cref="IActionHandler.ArgumentsProblemAsync"/>,
/// what its <c>ExecuteAsync</c> checks first). An intent of an action none of the plugins provides is reported too: on
/// the server it would wait for one (warning FSR0003), and a test is run with the plugins it is meant for.
/// </summary>
/// <param name="plugins">The plugins loaded (built-in actions included).</param>
/// <param name="secrets">The secrets of this configuration.</param>
/// <param name="answerTime">
/// How long a plugin's check may take (10 s when <c>null</c>): it does no I/O, so one that takes longer is the plugin's bug.
/// </param>
internal sealed class IntentArgumentsCheck(PluginSet plugins, SecretStore secrets, TimeSpan? answerTime = null)
{
    private readonly TimeSpan _answerTime = answerTime ?? TimeSpan.FromSeconds(10);

    /// <summary>Why the intent's plugin would refuse it without trying (never a secret's value), or <c>null</c>.</summary>
    public async ValueTask<string?> RefusalAsync(ActionIntent intent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(intent);
        if (!plugins.Handlers.TryGetValue(intent.Action, out var handler))
        {
            return $"No plugin provides the action '{intent.Action}' (FSR0003): on the server its intents would wait for one.";
        }

        var resolution = secrets.ResolveForAttempt(intent.Arguments, intent.SecretPlaces);
        if (resolution.Arguments is not { } arguments)
        {
            return resolution.Refusal;
        }

        string? problem;
        try
        {
            problem = await handler.ArgumentsProblemAsync(arguments, cancellationToken).AsTask().WaitAsync(_answerTime, cancellationToken);
        }
        catch (TimeoutException)
        {
            problem = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"The plugin's check of the arguments did not answer within {_answerTime.TotalSeconds:0.###} s (it must do no I/O).");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            problem = $"The plugin's check of the arguments threw {ex.GetType().Name}: {ex.Message}";
        }

        return problem is null ? null : secrets.Redact(problem) + WithSecrets(intent.SecretPlaces);
    }

    /// <summary>
    /// Says which secrets' values the arguments were checked with: a placeholder value (as CI has) that is not of the
    /// shape the plugin checks (a URL) is refused as the real one would not be.
    /// </summary>
    private static string WithSecrets(string? places) =>
        SecretStore.Places(places) is { Count: > 0 } named
            ? $" (checked with this configuration's values of {string.Join(", ", named.Select(p => p.Name).Distinct(StringComparer.Ordinal).Select(n => $"Secrets:{n}"))}; give placeholders the shape of the real values)"
            : "";
}
