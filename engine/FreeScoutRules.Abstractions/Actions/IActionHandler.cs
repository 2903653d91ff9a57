namespace FreeScoutRules.Actions;

/// <summary>
/// An action: what runs, outside the rules and with retries, for an <see cref="ActionIntent"/> whose
/// <see cref="ActionIntent.Action"/> equals <see cref="Name"/>. Plugins implement it, usually through
/// <see cref="ActionHandler{TArguments}"/>.
/// </summary>
/// <remarks>
/// Lifetime: one instance per loaded plugin, used for every execution until the plugin is unloaded.
/// Thread safety: <see cref="ExecuteAsync"/> may run concurrently for different intents.
/// It runs at least once per intent: use <see cref="ActionContext.IdempotencyKey"/> so that a repeat
/// after a crash has no second effect. It should not throw; an exception counts as a retryable failure.
/// </remarks>
public interface IActionHandler
{
    /// <summary>The action name rules use in <c>ctx.Enqueue(name, …)</c>; unique across plugins.</summary>
    string Name { get; }

    /// <summary>Runs the action once.</summary>
    ValueTask<ActionResult> ExecuteAsync(ActionContext context);

    /// <summary>
    /// True (the default): the intents of one conversation for this action run one at a time, in the
    /// order their deliveries were processed; a later one waits while an earlier one is retrying, until
    /// that one is done or dead. False lets them run side by side: faster, but a note may reach its target
    /// before the close notification queued ahead of it, and an earlier intent that keeps failing no longer
    /// holds back the later ones of its conversation (head-of-line blocking is the price of order).
    /// </summary>
    bool OrderedPerConversation => true;

    /// <summary>
    /// What keeps this action from working with the configuration it has, one line each naming the setting,
    /// what is wrong with it and where to set it (<c>"FREESCOUTRULES_FREESCOUT_URL is not set: …"</c>); empty
    /// when it is ready (the default). Checked at start, on every reload and by <c>check --plugins</c>: a
    /// rule that uses an action with problems draws warning FSR0008, and the server logs it. Must not throw
    /// or do I/O beyond reading its configuration.
    /// </summary>
    IReadOnlyList<string> ConfigurationProblems() => [];

    /// <summary>
    /// <see cref="ConfigurationProblems()"/> with the host's FreeScout connection (<c>null</c> when none is
    /// configured), for actions that call FreeScout. The host calls this one; by default it asks the other.
    /// </summary>
    IReadOnlyList<string> ConfigurationProblems(FreeScout.FreeScoutConnection? freeScout) => ConfigurationProblems();
}
