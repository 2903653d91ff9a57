using System.Text.Json.Nodes;
using FluentValidation;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Plugins;

namespace FreeScoutRules.Engine.Tests.Actions;

/// <summary>
/// <c>test --plugins</c>'s question to a plugin about an intent's arguments (<see cref="IntentArgumentsCheck"/>): the
/// secrets put in as an attempt would, the plugin's answer, and a plugin that throws or never answers reported, not fatal.
/// </summary>
public sealed class IntentArgumentsCheckTests
{
    private sealed record PageArguments(string Text);

    private sealed class Page : ActionHandler<PageArguments>
    {
        private static readonly InlineValidator<PageArguments> Rules = Build();

        public override string Name => "page";

        protected override IValidator<PageArguments> Validator => Rules;

        protected override ValueTask<ActionResult> ExecuteAsync(PageArguments arguments, ActionContext context) => ValueTask.FromResult(ActionResult.Done());

        private static InlineValidator<PageArguments> Build()
        {
            var rules = new InlineValidator<PageArguments>();
            rules.RuleFor(a => a.Text).Must(t => !t.Contains("token-", StringComparison.Ordinal)).WithMessage(a => $"text must not hold a token: {a.Text}");
            return rules;
        }
    }

    /// <summary>A plugin whose check misbehaves: throws, or never answers.</summary>
    private sealed class Odd(bool hang) : IActionHandler
    {
        public string Name => "odd";

        public ValueTask<ActionResult> ExecuteAsync(ActionContext context) => ValueTask.FromResult(ActionResult.Done());

        public async ValueTask<string?> ArgumentsProblemAsync(string arguments, CancellationToken cancellationToken)
        {
            if (!hang)
            {
                throw new InvalidOperationException("a bug in the plugin");
            }

            await Task.Delay(Timeout.Infinite, cancellationToken);
            return null;
        }
    }

    private static IntentArgumentsCheck Check(IActionHandler handler, TimeSpan? answerTime = null) => new(
        new PluginSet(new Dictionary<string, IActionHandler> { [handler.Name] = handler }, [], []),
        new SecretStore(new Dictionary<string, string> { ["pager_token"] = "token-4711" }),
        answerTime);

    /// <summary>An intent as a rule records it, with <c>Secret.Ref(name)</c> in its text.</summary>
    private static ActionIntent WithSecret(string action, string secret)
    {
        var arguments = JsonNode.Parse($$"""{"text":"{{Secret.Ref(secret)}}"}""")!;
        var places = SecretPlaces.Extract(arguments);
        return new ActionIntent("r", action, 1187, arguments.ToJsonString()) { SecretPlaces = places };
    }

    [Fact]
    public async Task TheSecretsValueIsPutIn_AsAnAttemptWould_AndNeverShowsInTheAnswer()
    {
        var refusal = await Check(new Page()).RefusalAsync(WithSecret("page", "pager_token"), default);

        Assert.Equal(
            "Invalid arguments for 'page': text must not hold a token: secret://pager_token (checked with this configuration's values of Secrets:pager_token; give placeholders the shape of the real values)",
            refusal);
    }

    [Fact]
    public async Task ArgumentsThePluginTakes_AreNotRefused()
    {
        Assert.Null(await Check(new Page()).RefusalAsync(new ActionIntent("r", "page", 1187, """{"text":"closed"}"""), default));
    }

    [Fact]
    public async Task AnUnknownSecret_AnActionNoPluginProvides_AndArgumentsThatDoNotBind_AreRefused()
    {
        var check = Check(new Page());

        Assert.StartsWith("Unknown secret 'nope'", await check.RefusalAsync(WithSecret("page", "nope"), default), StringComparison.Ordinal);
        Assert.StartsWith("No plugin provides the action 'pagr'", await check.RefusalAsync(new ActionIntent("r", "pagr", 1187, "{}"), default), StringComparison.Ordinal);
        Assert.StartsWith("The arguments of 'page' do not fit PageArguments", await check.RefusalAsync(new ActionIntent("r", "page", 1187, """{"text":42}"""), default), StringComparison.Ordinal);
    }

    [Fact]
    public async Task APluginWhoseCheckThrowsOrNeverAnswers_IsReported_NotWaitedFor()
    {
        var intent = new ActionIntent("r", "odd", 1187, "{}");

        var threw = await Check(new Odd(hang: false)).RefusalAsync(intent, default);
        var hung = await Check(new Odd(hang: true), TimeSpan.FromMilliseconds(200)).RefusalAsync(intent, default);

        Assert.Equal("The plugin's check of the arguments threw InvalidOperationException: a bug in the plugin", threw);
        Assert.Equal("The plugin's check of the arguments did not answer within 0.2 s (it must do no I/O).", hung);
    }
}
