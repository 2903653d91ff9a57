using System.Security.Cryptography;
using System.Text;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Plugins;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Engine.Actions;

/// <summary>
/// Where each intent goes, asked of the plugin in force that provides its action
/// (<see cref="IActionHandler.Destination"/>) from the arguments as the rule wrote them: secret references stay
/// unresolved. Computed once, when the evaluation's result is committed, and stored with the intent: order per
/// conversation and the attempts in flight hold per destination. An action no plugin provides, a plugin that names
/// none, or one that throws: the action as a whole (<c>null</c>), as before destinations existed. Thread-safe.
/// </summary>
internal sealed partial class IntentDestinations(PluginSetHolder plugins, ILogger<IntentDestinations> logger)
{
    /// <summary>Longest destination stored as it is; a longer one is stored as its hash (it is an index key).</summary>
    public const int MaxLength = 200;

    /// <summary>The destination of each of <paramref name="intents"/>, in order; <c>null</c> when none names one.</summary>
    public IReadOnlyList<string?>? Of(IReadOnlyList<ActionIntent> intents)
    {
        ArgumentNullException.ThrowIfNull(intents);
        string?[]? destinations = null;
        var handlers = plugins.Current.Handlers;
        for (var i = 0; i < intents.Count; i++)
        {
            if (handlers.TryGetValue(intents[i].Action, out var handler) && Ask(handler, intents[i]) is { } destination)
            {
                destinations ??= new string?[intents.Count];
                destinations[i] = destination;
            }
        }

        return destinations;
    }

    private string? Ask(IActionHandler handler, ActionIntent intent)
    {
        string? destination;
        try
        {
            destination = handler.Destination(intent.Arguments);
        }
        catch (Exception ex)
        {
            // A plugin's bug must not fail the commit of a delivery: its intent orders with its action as a whole.
            LogDestinationFailed(logger, ex, intent.Action, intent.Rule, intent.ConversationId);
            return null;
        }

        if (string.IsNullOrEmpty(destination))
        {
            return null;
        }

        return destination.Length <= MaxLength
            ? destination
            : $"{intent.Action}#{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(destination)))}";
    }

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning,
        Message = "The plugin of action '{Action}' threw while naming the destination of an intent (rule {Rule}, conversation {ConversationId}); the intent is ordered with its action as a whole")]
    private static partial void LogDestinationFailed(ILogger logger, Exception exception, string action, string rule, int conversationId);
}
