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
    /// True (the default): the intents of one conversation for one destination (<see cref="Destination"/>; the
    /// action as a whole unless the plugin names one) run one at a time, in the order their deliveries were
    /// processed; a later one waits while an earlier one is retrying, until that one is done or dead. Intents to
    /// other destinations do not wait for it. False lets them run side by side: faster, but a note may reach its
    /// target before the close notification queued ahead of it, and an earlier intent that keeps failing no longer
    /// holds back the later ones of its conversation (head-of-line blocking is the price of order).
    /// </summary>
    bool OrderedPerConversation => true;

    /// <summary>
    /// Where an intent of this action goes, from its <paramref name="arguments"/> as the rule wrote them (compact JSON;
    /// a secret the rule put there is still its <c>secret://NAME</c> reference: never resolve it here), for example a
    /// URL's scheme, host and port. Order (<see cref="OrderedPerConversation"/>) holds per conversation and destination,
    /// and each destination gets its own share of the attempts in flight (<c>Actions:ConcurrencyPerDestination</c>),
    /// so a destination that fails or never answers holds back no other. <c>null</c> (the default): the action as a
    /// whole is one destination. Asked once per intent, when the delivery's result is committed; it must be quick, do
    /// no I/O and not throw (an exception counts as <c>null</c>). The value is stored with the intent and shown by the
    /// admin API: keep it short and free of secrets (no user info, no query string).
    /// </summary>
    string? Destination(string arguments) => null;

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

    /// <summary>
    /// Why this action would refuse <paramref name="arguments"/> (an intent's compact JSON, secrets' values in) without
    /// trying, or <c>null</c> when it would run with them (the default: nothing checked). <c>test --plugins DIR</c> asks it
    /// of every intent the recorded deliveries produce, so that arguments the plugin refuses fail the rule's test rather
    /// than the intent's first real run. <see cref="ActionHandler{TArguments}"/> answers with the binding and the
    /// validation its <see cref="ExecuteAsync"/> runs first. Must do no I/O and not throw.
    /// </summary>
    ValueTask<string?> ArgumentsProblemAsync(string arguments, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);
}
