using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FreeScoutRules.Engine.FreeScoutApi;
using FreeScoutRules.Engine.Tests.Support;

namespace FreeScoutRules.Engine.Tests.FreeScoutApi;

/// <summary>
/// What FreeScout's API may answer that is not a good page of conversations, read by <see cref="FreeScoutClient"/>:
/// each a clear error naming what to check, or (a conversation that does not validate) counted and left out.
/// </summary>
public sealed class FreeScoutClientTests
{
    /// <summary>Answers every request with one canned response (the reconciler's pipeline is the host's; here only the reading is tested).</summary>
    private sealed class Answer(HttpStatusCode status, string body, string contentType = "application/json") : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, contentType) });
    }

    private static FreeScoutClient Client(HttpStatusCode status, string body, string contentType = "application/json") =>
        new(new HttpClient(new Answer(status, body, contentType)) { BaseAddress = new Uri("https://support.example.com/") });

    private static Task<ConversationPage> ListAsync(FreeScoutClient client) =>
        client.ListUpdatedSinceAsync(DateTimeOffset.UnixEpoch, 1, 100, CancellationToken.None);

    [Fact]
    public async Task AConversationThatDoesNotValidate_IsCountedAndLeftOut_TheOthersComeWithTheirExactJson()
    {
        var good = Fixtures.Json("convo.status.closed");
        var bad = Fixtures.Json("convo.status.closed");
        bad["id"] = 7;
        bad.Remove("updatedAt");
        var page = new JsonObject { ["_embedded"] = new JsonObject { ["conversations"] = new JsonArray(good.DeepClone(), bad) } }.ToJsonString();

        var listed = await ListAsync(Client(HttpStatusCode.OK, page));

        var only = Assert.Single(listed.Conversations);
        Assert.Equal(1187, only.Conversation.Id);
        Assert.Equal(good.ToJsonString(), Encoding.UTF8.GetString(only.Json));
        Assert.Equal(2, listed.Count); // a full page is judged by everything listed
        Assert.Contains("updatedAt", Assert.Single(listed.Invalid), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HttpStatusCode.OK, "<html><body>Login</body></html>", "is not JSON (it starts with '<html>")]
    [InlineData(HttpStatusCode.OK, """{"message":"ok"}""", "has no _embedded.conversations list")]
    [InlineData(HttpStatusCode.Unauthorized, """{"message":"Not Authorized"}""", "FreeScout refused the API key (401 Unauthorized: Not Authorized)")]
    [InlineData(HttpStatusCode.NotFound, "<html>Not Found</html>", "is FreeScout:Url (FREESCOUTRULES_FREESCOUT_URL) FreeScout's address")]
    [InlineData(HttpStatusCode.InternalServerError, """{"message":"SQLSTATE[HY000]"}""", "FreeScout answered 500 Internal Server Error: SQLSTATE[HY000] for https://support.example.com/api/conversations after the retries")]
    public async Task AnAnswerThatIsNotAPage_IsAnErrorThatSaysWhatToCheck(HttpStatusCode status, string body, string expected)
    {
        var error = await Assert.ThrowsAsync<FreeScoutApiException>(() => ListAsync(Client(status, body)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreachableFreeScout_IsAnErrorNamingItsAddress_AndTheSetting()
    {
        var client = new FreeScoutClient(new HttpClient { BaseAddress = new Uri("http://127.0.0.1:9/") });

        var error = await Assert.ThrowsAsync<FreeScoutApiException>(() => ListAsync(client));

        Assert.StartsWith("FreeScout at http://127.0.0.1:9 did not answer: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("FREESCOUTRULES_FREESCOUT_URL", error.Message, StringComparison.Ordinal);
    }
}
