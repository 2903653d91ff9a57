using System.Text.Json;
using FluentValidation;

namespace FreeScoutRules.Actions;

/// <summary>
/// Base class of an action with typed arguments: the intent's JSON arguments are deserialised into
/// <typeparamref name="TArguments"/> (camelCase, case-insensitive) and validated with
/// <see cref="Validator"/>; arguments that do not bind or validate are a permanent failure, never retried.
/// </summary>
/// <typeparam name="TArguments">The arguments' type, declared by the plugin.</typeparam>
public abstract class ActionHandler<TArguments> : IActionHandler
    where TArguments : class
{
    // Owned by the handler, so the serializer's metadata cache goes with the plugin when it unloads.
    private readonly JsonSerializerOptions _json = new(JsonSerializerDefaults.Web);

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public virtual bool OrderedPerConversation => true;

    /// <inheritdoc />
    public virtual string? Destination(string arguments) => null;

    /// <inheritdoc />
    public virtual IReadOnlyList<string> ConfigurationProblems() => [];

    /// <inheritdoc />
    public virtual IReadOnlyList<string> ConfigurationProblems(FreeScout.FreeScoutConnection? freeScout) => ConfigurationProblems();

    /// <summary>The arguments' validator, or <c>null</c> for none.</summary>
    protected virtual IValidator<TArguments>? Validator => null;

    /// <inheritdoc />
    public async ValueTask<ActionResult> ExecuteAsync(ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (arguments, problem) = await BindAsync(context.Arguments, context.CancellationToken);
        return arguments is null ? ActionResult.Fail(problem!) : await ExecuteAsync(arguments, context);
    }

    /// <inheritdoc />
    public async ValueTask<string?> ArgumentsProblemAsync(string arguments, CancellationToken cancellationToken) =>
        (await BindAsync(arguments, cancellationToken)).Problem;

    /// <summary>The arguments bound and validated, or why not (then a permanent failure): one path for running and checking them.</summary>
    private async ValueTask<(TArguments? Arguments, string? Problem)> BindAsync(string json, CancellationToken cancellationToken)
    {
        TArguments? arguments;
        try
        {
            arguments = JsonSerializer.Deserialize<TArguments>(json, _json);
        }
        catch (JsonException ex)
        {
            return (null, $"The arguments of '{Name}' do not fit {typeof(TArguments).Name}: {ex.Message}");
        }

        if (arguments is null)
        {
            return (null, $"The arguments of '{Name}' are missing.");
        }

        if (Validator is { } validator)
        {
            var validation = await validator.ValidateAsync(arguments, cancellationToken);
            if (!validation.IsValid)
            {
                return (null, $"Invalid arguments for '{Name}': {string.Join("; ", validation.Errors.Select(e => e.ErrorMessage))}");
            }
        }

        return (arguments, null);
    }

    /// <summary>Runs the action with validated arguments.</summary>
    protected abstract ValueTask<ActionResult> ExecuteAsync(TArguments arguments, ActionContext context);
}
