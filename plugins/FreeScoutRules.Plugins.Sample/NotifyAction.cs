using System.Net.Http.Json;
using FluentValidation;
using FreeScoutRules.Actions;

namespace FreeScoutRules.Plugins.Sample;

/// <summary>The arguments a rule passes: <c>ctx.Enqueue("sample-notify", new { url = "https://…", text = "…" })</c>.</summary>
public sealed record NotifyArguments(string Url, string Text);

/// <summary>
/// The sample action <c>sample-notify</c>: POSTs <c>{"text": …, "conversationId": …}</c> to a URL,
/// with the intent's idempotency key, and says whether a failure is worth retrying.
/// </summary>
public sealed class NotifyAction : ActionHandler<NotifyArguments>
{
    private static readonly NotifyArgumentsValidator ArgumentsValidator = new();

    /// <inheritdoc />
    public override string Name => "sample-notify";

    /// <inheritdoc />
    protected override IValidator<NotifyArguments> Validator => ArgumentsValidator;

    /// <inheritdoc />
    protected override async ValueTask<ActionResult> ExecuteAsync(NotifyArguments arguments, ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(context);
        using var client = context.HttpClientFactory.CreateClient(Name);
        // Buffered, so it goes with its Content-Length (JsonContent alone is sent chunked, which some receivers read as empty).
        var content = JsonContent.Create(new { text = arguments.Text, conversationId = context.Intent.ConversationId });
        await content.LoadIntoBufferAsync(context.CancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, arguments.Url) { Content = content };
        request.Headers.Add("Idempotency-Key", context.IdempotencyKey);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, context.CancellationToken);
        }
        catch (HttpRequestException ex)
        {
            return ActionResult.Retry($"{arguments.Url} did not answer: {ex.Message}");
        }

        using (response)
        {
            // 2xx done; 408, 429, 5xx retried (after Retry-After); anything else a permanent failure.
            return ActionResult.FromResponse(response, $"{arguments.Url}");
        }
    }

    private sealed class NotifyArgumentsValidator : AbstractValidator<NotifyArguments>
    {
        public NotifyArgumentsValidator()
        {
            RuleFor(a => a.Url).Must(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                .WithMessage("url must be an absolute http(s) URL");
            RuleFor(a => a.Text).NotEmpty().WithMessage("text is required");
        }
    }
}
