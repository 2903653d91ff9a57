using System.Net.Http.Headers;
using System.Net.Http.Json;
using FluentValidation;
using FreeScoutRules.Actions;

namespace Acme.Pager;

/// <summary>
/// What a rule passes: <c>.Do("pager", c => new { text = $"#{c.Number} …", severity = "critical" })</c> in a concise
/// rule, or <c>ctx.Enqueue("pager", new { text = "…" })</c>.
/// </summary>
public sealed record PagerArguments(string Text, string? Severity);

/// <summary>
/// The action <c>pager</c>: POSTs <c>{"text", "severity", "conversationId"}</c> to <c>PAGER_URL</c> with
/// <c>PAGER_TOKEN</c> as a bearer token and the intent's idempotency key. The server runs it after the delivery is
/// committed, at least once, with retries: 2xx is done; 408, 429, 5xx and no answer are tried again (after
/// Retry-After); any other answer, and arguments that fail validation, are permanent failures (a dead letter).
/// </summary>
public sealed class PagerAction : ActionHandler<PagerArguments>
{
    private static readonly PagerArgumentsValidator ArgumentsValidator = new();

    private readonly PagerSettings _settings;
    private readonly IReadOnlyList<string> _problems;

    /// <summary>The server creates the plugin with this constructor: settings from its environment.</summary>
    public PagerAction()
        : this(PagerSettings.FromEnvironment())
    {
    }

    public PagerAction(PagerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _problems = PagerSettings.Validator.Validate(settings).Errors.Select(e => e.ErrorMessage).ToList();
    }

    /// <inheritdoc />
    public override string Name => "pager";

    /// <inheritdoc />
    protected override IValidator<PagerArguments> Validator => ArgumentsValidator;

    /// <summary>
    /// What keeps the action from working: the server logs it at start and on reload as warning FSR0008 against
    /// every rule that uses the action, and <c>freescout-rules check --plugins</c> reports it.
    /// </summary>
    public override IReadOnlyList<string> ConfigurationProblems() => _problems;

    /// <inheritdoc />
    protected override async ValueTask<ActionResult> ExecuteAsync(PagerArguments arguments, ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(context);
        if (_problems.Count > 0)
        {
            // Fixed by configuring the server, not by the rule: tried again until it is (or the intent is dead).
            return ActionResult.Retry($"'{Name}' is not configured: {string.Join("; ", _problems)}");
        }

        var what = $"POST {_settings.Url}";
        using var client = context.HttpClientFactory.CreateClient(Name);
        var content = JsonContent.Create(new
        {
            text = arguments.Text,
            severity = arguments.Severity ?? "info",
            conversationId = context.Intent.ConversationId,
        });
        // Buffered, so it goes with its Content-Length (JsonContent alone is sent chunked, which some receivers read as empty).
        await content.LoadIntoBufferAsync(context.CancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, _settings.Url) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.Token);
        request.Headers.Add("Idempotency-Key", context.IdempotencyKey);
        try
        {
            using var response = await client.SendAsync(request, context.CancellationToken);
            return ActionResult.FromResponse(response, what);
        }
        catch (HttpRequestException ex)
        {
            return ActionResult.Unreachable(what, ex);
        }
    }

    private sealed class PagerArgumentsValidator : AbstractValidator<PagerArguments>
    {
        private static readonly string[] Severities = ["info", "warning", "critical"];

        public PagerArgumentsValidator()
        {
            RuleFor(a => a.Text).NotEmpty().WithMessage("text is required");
            RuleFor(a => a.Text).MaximumLength(1000).WithMessage("text is longer than 1000 characters");
            RuleFor(a => a.Severity)
                .Must(s => s is null || Severities.Contains(s))
                .WithMessage(a => $"severity must be one of {string.Join(", ", Severities)}, not '{a.Severity}'");
        }
    }
}
