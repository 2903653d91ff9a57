using System.Net;
using System.Text.Json;
using FreeScoutRules.Actions;
using Microsoft.Extensions.Logging.Abstractions;

namespace Acme.Pager.Tests;

/// <summary>The action as the server runs it: an intent's JSON arguments in, one attempt's result out.</summary>
public sealed class PagerActionTests
{
    private static readonly PagerSettings Configured = new("https://alerts.example.com/api/messages", "a-token-for-the-tests");

    [Fact]
    public async Task PostsTheMessage_WithTheTokenAndTheIdempotencyKey()
    {
        var service = new Service(HttpStatusCode.Accepted);

        var result = await new PagerAction(Configured).ExecuteAsync(Context(service, """{"text":"#1187 waits","severity":"critical"}"""));

        Assert.Equal(ActionOutcome.Done, result.Outcome);
        var request = Assert.Single(service.Requests);
        Assert.Equal(HttpMethod.Post, request.Method);
        Assert.Equal("https://alerts.example.com/api/messages", request.Uri);
        Assert.Equal("Bearer a-token-for-the-tests", request.Authorization);
        Assert.Equal("fsr-test-42", request.IdempotencyKey);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(request.Body), request.Length); // not chunked: every receiver reads it
        using var body = JsonDocument.Parse(request.Body);
        Assert.Equal("#1187 waits", body.RootElement.GetProperty("text").GetString());
        Assert.Equal("critical", body.RootElement.GetProperty("severity").GetString());
        Assert.Equal(1187, body.RootElement.GetProperty("conversationId").GetInt32());
    }

    [Theory]
    [InlineData("""{"severity":"info"}""", "text is required")]
    [InlineData("""{"text":"x","severity":"urgent"}""", "severity must be one of info, warning, critical, not 'urgent'")]
    public async Task ArgumentsThatFailValidation_AreAPermanentFailure_AndSendNothing(string arguments, string problem)
    {
        var service = new Service(HttpStatusCode.OK);

        var result = await new PagerAction(Configured).ExecuteAsync(Context(service, arguments));
        // What freescout-rules test --plugins asks of each intent a rule records: the same answer, before any run.
        var checkedBeforehand = await new PagerAction(Configured).ArgumentsProblemAsync(arguments, CancellationToken.None);

        Assert.Equal(ActionOutcome.PermanentFailure, result.Outcome);
        Assert.Contains(problem, result.Reason, StringComparison.Ordinal);
        Assert.Equal(result.Reason, checkedBeforehand);
        Assert.Empty(service.Requests);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable, ActionOutcome.RetryableFailure)]
    [InlineData(HttpStatusCode.TooManyRequests, ActionOutcome.RetryableFailure)]
    [InlineData(HttpStatusCode.BadRequest, ActionOutcome.PermanentFailure)]
    public async Task TheServicesAnswer_DecidesWhetherToTryAgain(HttpStatusCode status, ActionOutcome outcome)
    {
        var result = await new PagerAction(Configured).ExecuteAsync(Context(new Service(status), """{"text":"x"}"""));

        Assert.Equal(outcome, result.Outcome);
        Assert.Contains($"answered {(int)status}", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_AreReadFromTheirVariables_AndValid()
    {
        var variables = new Dictionary<string, string> { [PagerSettings.UrlVariable] = "https://alerts.example.com/x", [PagerSettings.TokenVariable] = "t" };

        var settings = PagerSettings.From(name => variables.GetValueOrDefault(name));

        Assert.Equal(new PagerSettings("https://alerts.example.com/x", "t"), settings);
        Assert.Empty(new PagerAction(settings).ConfigurationProblems());
    }

    [Fact]
    public async Task MissingSettings_AreNamed_AndTheActionWaitsForThem()
    {
        var action = new PagerAction(PagerSettings.From(_ => null));
        var service = new Service(HttpStatusCode.OK);

        var problems = action.ConfigurationProblems();
        var result = await action.ExecuteAsync(Context(service, """{"text":"x"}"""));

        Assert.Equal(2, problems.Count);
        Assert.StartsWith($"{PagerSettings.UrlVariable} is not set", problems[0], StringComparison.Ordinal);
        Assert.StartsWith($"{PagerSettings.TokenVariable} is not set", problems[1], StringComparison.Ordinal);
        Assert.Equal(ActionOutcome.RetryableFailure, result.Outcome);
        Assert.Empty(service.Requests);
    }

    [Fact]
    public void AUrlThatIsNotAbsoluteHttp_IsAProblem()
    {
        var problems = new PagerAction(Configured with { Url = "alerts.example.com/api" }).ConfigurationProblems();

        Assert.Equal($"{PagerSettings.UrlVariable} is not an absolute http(s) URL: 'alerts.example.com/api'", Assert.Single(problems));
    }

    private static ActionContext Context(Service service, string arguments) => new()
    {
        Intent = new ActionIntent("a-rule", "pager", 1187, arguments),
        IdempotencyKey = "fsr-test-42",
        Attempt = 1,
        Logger = NullLogger.Instance,
        HttpClientFactory = service,
        Time = TimeProvider.System,
    };

    /// <summary>The service the action posts to: records each request and answers with one status.</summary>
    private sealed class Service(HttpStatusCode status) : HttpMessageHandler, IHttpClientFactory
    {
        public List<(HttpMethod Method, string Uri, string? Authorization, string? IdempotencyKey, string Body, long? Length)> Requests { get; } = [];

        public HttpClient CreateClient(string name) => new(this, disposeHandler: false);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add((
                request.Method,
                request.RequestUri!.ToString(),
                request.Headers.Authorization?.ToString(),
                request.Headers.TryGetValues("Idempotency-Key", out var keys) ? keys.Single() : null,
                request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken),
                request.Content?.Headers.ContentLength));
            return new HttpResponseMessage(status);
        }
    }
}
