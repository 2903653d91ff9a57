using System.Net;
using System.Text.Json;

namespace FreeScoutRules.Host.Tests.Support;

// Inside the namespace: from here the name FreeScoutStandIn would otherwise find the namespace FreeScoutRules.FreeScoutStandIn first.
using FreeScoutRules.FreeScoutStandIn;

/// <summary>The FreeScout REST API stand-in answers as ApiController::listConversations (v1.0.87) does, and fails on demand.</summary>
public sealed class FreeScoutStandInTests : IAsyncLifetime
{
    private static readonly DateTimeOffset From = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private FreeScoutStandIn _standIn = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _standIn = await FreeScoutStandIn.StartAsync();
        _client = new HttpClient { BaseAddress = _standIn.Address };
        _client.DefaultRequestHeaders.Add("X-FreeScout-API-Key", "test-api-key");
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _standIn.DisposeAsync();
    }

    [Fact]
    public async Task List_PagesByUpdatedAtAscending_ReturnEachConversationOnceInOrder()
    {
        // Ids and updatedAt in different orders, two conversations in the same second (the tie goes to the lower id).
        _standIn.PutAll(FreeScoutStandIn.Generate(23, From, TimeSpan.FromMinutes(1)).Select(c => c with { UpdatedAt = From.AddMinutes((c.Id * 7) % 23) }));
        _standIn.Touch(5, "closed", From.AddMinutes(3).AddMilliseconds(900));

        var seen = new List<int>();
        for (var page = 1; page <= 5; page++)
        {
            using var body = await GetJsonAsync($"api/conversations?sortField=updatedAt&sortOrder=asc&pageSize=5&page={page}");
            Assert.Equal((5, 23, 5, page), PageOf(body));
            seen.AddRange(IdsOf(body));
        }

        var expected = Enumerable.Range(1, 23).Select(id => _standIn.Find(id)!).OrderBy(c => c.UpdatedAt).ThenBy(c => c.Id).Select(c => c.Id);
        Assert.Equal(expected, seen);
        Assert.Equal(23, seen.Distinct().Count());
    }

    [Fact]
    public async Task List_UpdatedSince_IncludesTheConversationsOfThatSecond()
    {
        _standIn.PutAll(FreeScoutStandIn.Generate(10, From, TimeSpan.FromMinutes(1)));

        using var body = await GetJsonAsync("api/conversations?updatedSince=2026-01-01T00:06:00Z&sortField=updatedAt&sortOrder=asc");

        Assert.Equal([7, 8, 9, 10], IdsOf(body));
        var first = body.RootElement.GetProperty("_embedded").GetProperty("conversations")[0];
        Assert.Equal("2026-01-01T00:06:00Z", first.GetProperty("updatedAt").GetString());
    }

    [Fact]
    public async Task List_StatusAndDefaultOrder_FilterByStatusNewestCreatedFirst()
    {
        _standIn.PutAll(FreeScoutStandIn.Generate(9, From, TimeSpan.FromSeconds(1)));

        using var closedOrActive = await GetJsonAsync("api/conversations?status=closed,active");
        using var unknownStatus = await GetJsonAsync("api/conversations?status=snoozed&pageSize=2");

        Assert.Equal([9, 7, 6, 4, 3, 1], IdsOf(closedOrActive));
        Assert.Equal((2, 9, 5, 1), PageOf(unknownStatus));
    }

    [Theory]
    [InlineData(null, "api/conversations")]
    [InlineData("wrong-key", "api/conversations")]
    [InlineData(null, "api/conversations?api_key=wrong-key")]
    [InlineData(null, "api/conversations/1")]
    public async Task List_MissingOrWrongKey_Returns401NotAuthorized(string? key, string path)
    {
        _standIn.Put(new StandInConversation(1, 1001, "active", From));
        using var client = new HttpClient { BaseAddress = _standIn.Address };
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("X-FreeScout-API-Key", key);
        }

        using var response = await client.SendAsync(request);
        using var withQueryKey = await client.GetAsync("api/conversations?api_key=test-api-key");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("""{"message":"Not Authorized"}""", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, withQueryKey.StatusCode);
        Assert.Equal(key, _standIn.Requests[0].ApiKey);
    }

    [Fact]
    public async Task FailNext_AnswersTheStatusWithRetryAfter_ThenRecovers()
    {
        _standIn.FailNext(2, HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(2.5));

        using var first = await _client.GetAsync("api/conversations");
        using var second = await _client.GetAsync("api/conversations");
        using var third = await _client.GetAsync("api/conversations");

        Assert.Equal(HttpStatusCode.TooManyRequests, first.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), first.Headers.RetryAfter?.Delta);
        Assert.Equal("""{"message":"Too Many Requests"}""", await first.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        Assert.Equal([429, 429, 200], _standIn.Requests.Select(r => r.Status));
    }

    [Fact]
    public async Task Down_AbortsTheConnection_UntilItIsUpAgain()
    {
        _standIn.Down = true;
        await Assert.ThrowsAsync<HttpRequestException>(() => _client.GetAsync("api/conversations"));

        _standIn.Down = false;
        using var response = await _client.GetAsync("api/conversations");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, _standIn.Requests[0].Status);
    }

    [Fact]
    public async Task List_PagePastTheEnd_IsEmptyWithThePageAskedFor()
    {
        _standIn.PutAll(FreeScoutStandIn.Generate(3, From, TimeSpan.FromSeconds(1)));

        using var pastTheEnd = await GetJsonAsync("api/conversations?page=5&pageSize=2");
        using var nothingMatches = await GetJsonAsync("api/conversations?number=42");

        Assert.Empty(IdsOf(pastTheEnd));
        Assert.Equal((2, 3, 2, 5), PageOf(pastTheEnd));
        Assert.Equal((50, 0, 1, 1), PageOf(nothingMatches)); // Laravel's lastPage is never below 1
    }

    [Fact]
    public async Task Conversation_HasTheWebhookKeysInTheirOrder_AndNoThreads()
    {
        _standIn.Put(new StandInConversation(1187, 1187, "active", From, CustomFields: [new StandInCustomField(1, "Priority", "2", "High")]));
        _standIn.Touch(1187, "closed", From.AddHours(2));
        using var fixture = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "freescout", "convo.status.closed.json")));

        using var one = await GetJsonAsync("api/conversations/1187");
        using var list = await GetJsonAsync("api/conversations");

        var conversation = one.RootElement;
        Assert.Equal(KeysOf(fixture.RootElement), KeysOf(conversation));
        Assert.Equal(conversation.GetRawText(), list.RootElement.GetProperty("_embedded").GetProperty("conversations")[0].GetRawText());
        Assert.Equal(0, conversation.GetProperty("_embedded").GetProperty("threads").GetArrayLength());
        Assert.Equal(5, conversation.GetProperty("closedBy").GetInt32());
        Assert.Equal("Smith", conversation.GetProperty("closedByUser").GetProperty("lastName").GetString());
        Assert.Equal("2026-01-01T02:00:00Z", conversation.GetProperty("closedAt").GetString());
        Assert.Equal("2026-01-01T00:00:00Z", conversation.GetProperty("createdAt").GetString());
    }

    [Fact]
    public async Task Routes_UnknownConversationAndApiPathAreJson404_OtherPathsHtml404()
    {
        using var conversation = await _client.GetAsync("api/conversations/77");
        using var apiPath = await _client.GetAsync("api/users/1");
        using var write = await _client.PutAsync("api/conversations/77", new StringContent("{}"));
        using var outside = await _client.GetAsync("conversations");

        Assert.Equal(HttpStatusCode.NotFound, conversation.StatusCode);
        Assert.Equal("""{"message":"Not found"}""", await conversation.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, apiPath.StatusCode);
        Assert.Equal("application/json", apiPath.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, write.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
        Assert.StartsWith("<!DOCTYPE html>", await outside.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ControlTouch_ChangesTheLeastRecentlyUpdated_AndStatsCountApiRequests()
    {
        _standIn.PutAll(FreeScoutStandIn.Generate(4, From, TimeSpan.FromSeconds(1)));
        using var noKey = await new HttpClient().PostAsync(new Uri(_standIn.Address, "_standin/touch"), null);

        using var touch = await _client.PostAsync("_standin/touch?count=2&at=2026-02-01T00:00:00Z", null);
        using var stats = await GetJsonAsync("_standin/stats");

        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal(HttpStatusCode.OK, touch.StatusCode);
        Assert.Equal(("pending", "closed"), (_standIn.Find(1)!.Status, _standIn.Find(2)!.Status));
        Assert.Equal(new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero), _standIn.Find(2)!.UpdatedAt);
        Assert.Equal(("closed", "active"), (_standIn.Find(3)!.Status, _standIn.Find(4)!.Status)); // untouched
        Assert.Equal(0, stats.RootElement.GetProperty("requests").GetInt64());
        Assert.Equal(4, stats.RootElement.GetProperty("conversations").GetInt32());
    }

    private async Task<JsonDocument> GetJsonAsync(string path)
    {
        using var response = await _client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
    }

    private static int[] IdsOf(JsonDocument body) =>
        [.. body.RootElement.GetProperty("_embedded").GetProperty("conversations").EnumerateArray().Select(c => c.GetProperty("id").GetInt32())];

    private static (int Size, int TotalElements, int TotalPages, int Number) PageOf(JsonDocument body)
    {
        var page = body.RootElement.GetProperty("page");
        return (page.GetProperty("size").GetInt32(), page.GetProperty("totalElements").GetInt32(),
            page.GetProperty("totalPages").GetInt32(), page.GetProperty("number").GetInt32());
    }

    private static string[] KeysOf(JsonElement conversation) => [.. conversation.EnumerateObject().Select(p => p.Name)];
}
