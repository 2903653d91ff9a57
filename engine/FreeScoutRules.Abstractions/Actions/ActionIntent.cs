namespace FreeScoutRules.Actions;

/// <summary>
/// Fact: a rule's decision that an action should run. Recording it does no I/O; the action runner
/// executes it after the session, with retries. Immutable; two equal intents from the same rule in
/// one delivery are recorded once.
/// </summary>
/// <param name="Rule">The name of the rule that recorded it.</param>
/// <param name="Action">The name of the action (a plugin) to run.</param>
/// <param name="ConversationId">The conversation of the delivery being processed.</param>
/// <param name="Arguments">The action's arguments as compact JSON (an object).</param>
public sealed record ActionIntent(string Rule, string Action, int ConversationId, string Arguments)
{
    /// <summary>
    /// Where the rule put secret references (<see cref="Secret.Ref"/>) in <see cref="Arguments"/>, as the engine
    /// records them; <c>null</c> when it put none. Only there does the action runner put secrets' values: text that
    /// merely looks like a reference stays text. Set by the engine; a plugin has no use for it.
    /// </summary>
    public string? SecretPlaces { get; init; }
}
