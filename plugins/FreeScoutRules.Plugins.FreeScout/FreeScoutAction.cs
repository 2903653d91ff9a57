using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using FluentValidation;
using FreeScoutRules.Actions;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Plugins.FreeScout;

/// <summary>
/// Arguments of <c>freescout</c>. <see cref="Operation"/> says what to do with conversation
/// <see cref="ConversationId"/>: <c>note</c> and <c>reply</c> (<see cref="Text"/>, optional
/// <see cref="Status"/>), <c>status</c> (<see cref="Status"/>), <c>assign</c> (<see cref="UserId"/>,
/// -1 unassigns), <c>tags</c> (<see cref="Tags"/>, a full replacement), <c>custom-fields</c>
/// (<see cref="CustomFields"/>, id → value; a dropdown takes the option id).
/// </summary>
public sealed record FreeScoutArguments
{
    public string Operation { get; init; } = "";

    public int ConversationId { get; init; }

    public string? Text { get; init; }

    public string? Status { get; init; }

    public int? UserId { get; init; }

    public IReadOnlyList<string>? Tags { get; init; }

    public Dictionary<string, string>? CustomFields { get; init; }
}

/// <summary>
/// The built-in action <c>freescout</c>: calls FreeScout's REST API (API &amp; Webhooks module) with
/// <c>X-FreeScout-API-Key</c>, as the configured bot user, guarding the API's silent traps before
/// sending: <c>byUser</c>/<c>user</c> is always the bot (required for status, assign and threads),
/// a status FreeScout does not know is refused (FreeScout would silently make it <c>active</c>),
/// and only <c>note</c> and <c>message</c> threads are written (an unknown type would silently
/// become a customer message). Threads it writes carry <c>source.type == "api"</c> and the bot as
/// author, which is how rules recognise our own writes echoed back as webhooks.
/// Configuration: the host's one FreeScout connection (<c>FREESCOUTRULES_FREESCOUT_URL</c>,
/// <c>FREESCOUTRULES_FREESCOUT_API_KEY</c>, <c>FREESCOUTRULES_FREESCOUT_BOT_USER_ID</c>, or <c>FreeScout:*</c>),
/// through its named client, which sends the key: this plugin never holds it.
/// </summary>
public sealed class FreeScoutAction : ActionHandler<FreeScoutArguments>
{
    private static readonly ArgumentsRules Rules = new();

    /// <inheritdoc />
    public override string Name => "freescout";

    /// <inheritdoc />
    protected override IValidator<FreeScoutArguments> Validator => Rules;

    /// <summary>
    /// The host's one FreeScout instance (its connection is the host's, not the arguments'): the action as a whole, so
    /// the calls of one conversation reach FreeScout in order, whichever other destinations are failing.
    /// </summary>
    public override string? Destination(string arguments) => null;

    /// <inheritdoc />
    public override IReadOnlyList<string> ConfigurationProblems(FreeScoutConnection? freeScout)
    {
        if (freeScout is null)
        {
            return
            [
                "the FreeScout connection is not configured: set FREESCOUTRULES_FREESCOUT_URL (the address of your FreeScout, e.g. https://support.example.com) "
                + "and FREESCOUTRULES_FREESCOUT_API_KEY (the key of its API & Webhooks module, Manage » API & Webhooks) in the server's environment, or FreeScout:Url and FreeScout:ApiKey; "
                + "it also needs FREESCOUTRULES_FREESCOUT_BOT_USER_ID (the id of the FreeScout user it writes as; FreeScout:BotUserId), if not set yet",
            ];
        }

        return freeScout.BotUserId is null
            ? ["FREESCOUTRULES_FREESCOUT_BOT_USER_ID is not set: the id of the FreeScout user this action writes as, in the server's environment (or FreeScout:BotUserId)"]
            : [];
    }

    /// <inheritdoc />
    protected override async ValueTask<ActionResult> ExecuteAsync(FreeScoutArguments arguments, ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(context);
        if (context.FreeScout is not { BotUserId: { } bot } freeScout)
        {
            return ActionResult.Retry(
                "FreeScout is not configured: set FREESCOUTRULES_FREESCOUT_URL, FREESCOUTRULES_FREESCOUT_API_KEY and FREESCOUTRULES_FREESCOUT_BOT_USER_ID.");
        }

        var conversation = $"conversations/{arguments.ConversationId}";
        var (method, path, body) = arguments.Operation switch
        {
            "note" or "reply" => (HttpMethod.Post, $"{conversation}/threads", (object)new Dictionary<string, object?>
            {
                ["type"] = arguments.Operation == "note" ? "note" : "message",
                ["text"] = arguments.Text,
                ["user"] = bot,
                ["status"] = arguments.Status,
            }.Where(p => p.Value is not null).ToDictionary()),
            "status" => (HttpMethod.Put, conversation, new { byUser = bot, status = arguments.Status }),
            "assign" => (HttpMethod.Put, conversation, new { byUser = bot, assignTo = arguments.UserId }),
            "tags" => (HttpMethod.Put, $"{conversation}/tags", new { tags = arguments.Tags }),
            _ => (HttpMethod.Put, $"{conversation}/custom_fields", (object)new
            {
                customFields = arguments.CustomFields!.Select(f => new { id = int.Parse(f.Key, System.Globalization.CultureInfo.InvariantCulture), value = f.Value }),
            }),
        };

        // The host's FreeScout client: the connection's address, the API key header, the resilience pipeline.
        using var client = context.HttpClientFactory.CreateClient(FreeScoutConnection.HttpClientName);
        // Buffered, so it goes with its Content-Length: FreeScout is PHP behind a web server, some of which refuse or empty a chunked body.
        var content = JsonContent.Create(body);
        await content.LoadIntoBufferAsync(context.CancellationToken);
        using var request = new HttpRequestMessage(method, freeScout.Api(path)) { Content = content };
        request.Headers.Add("Idempotency-Key", context.IdempotencyKey);
        try
        {
            using var response = await client.SendAsync(request, context.CancellationToken);
            var result = ActionResult.FromResponse(response, $"FreeScout ({arguments.Operation})");
            if (result.Outcome == ActionOutcome.Done)
            {
                return result;
            }

            var detail = await response.Content.ReadAsStringAsync(context.CancellationToken);
            return result with { Reason = $"{result.Reason}: {(detail.Length > 200 ? detail[..200] : detail)}" };
        }
        catch (HttpRequestException ex)
        {
            return ActionResult.Unreachable("FreeScout", ex);
        }
    }

    private sealed class ArgumentsRules : AbstractValidator<FreeScoutArguments>
    {
        private static readonly string[] Operations = ["note", "reply", "status", "assign", "tags", "custom-fields"];

        public ArgumentsRules()
        {
            RuleFor(a => a.Operation).Must(o => Operations.Contains(o))
                .WithMessage($"operation must be one of {string.Join(", ", Operations)}");
            RuleFor(a => a.ConversationId).GreaterThan(0).WithMessage("conversationId must be a positive conversation id");
            RuleFor(a => a.Text).NotEmpty().When(a => a.Operation is "note" or "reply").WithMessage("text is required for a note or a reply");
            RuleFor(a => a.Status).NotEmpty().When(a => a.Operation == "status").WithMessage("status is required for the status operation");
            RuleFor(a => a.Status).Must(ConversationStatus.IsKnown!).When(a => a.Status is not null)
                .WithMessage(a => $"status '{a.Status}' is not one of {string.Join(", ", ConversationStatus.All)} (FreeScout would silently make it active)");
            RuleFor(a => a.UserId).NotNull().When(a => a.Operation == "assign").WithMessage("userId is required for assign (-1 unassigns)");
            RuleFor(a => a.Tags).NotNull().When(a => a.Operation == "tags").WithMessage("tags is required for the tags operation ([] clears them)");
            RuleFor(a => a.CustomFields).NotEmpty().When(a => a.Operation == "custom-fields").WithMessage("customFields is required for custom-fields");
            RuleForEach(a => a.CustomFields).Must(f => int.TryParse(f.Key, out var id) && id > 0)
                .When(a => a.CustomFields is not null).WithMessage("customFields keys must be custom field ids");
        }
    }
}
