using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>POST /webhooks/freescout in process: what is accepted, what is refused, and that refused means not stored.</summary>
public sealed class WebhookEndpointTests : IAsyncLifetime
{
    private TestServerHost _server = null!;

    public async Task InitializeAsync() => _server = await TestServerHost.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task AssertNothingStoredAsync() => Assert.Empty(await _server.SettledDeliveriesAsync());

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task Ingest_EveryWireFixture_Is202AndProcessed()
    {
        foreach (var (name, eventName, body, signature) in SignedDeliveries.All())
        {
            var response = await _server.PostAsync(eventName, body, signature);
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("accepted", answer.GetProperty("status").GetString());
            Assert.True(answer.GetProperty("deliveryId").GetInt64() > 0);
        }

        var deliveries = await _server.SettledDeliveriesAsync();

        Assert.Equal(15, deliveries.Length);
        Assert.Equal(2, deliveries.Count(d => d.GetProperty("outcome").GetString() == "skipped"));
        Assert.Equal(13, deliveries.Count(d => d.GetProperty("outcome").GetString() == "done"));
        Assert.All(deliveries.Where(d => d.GetProperty("conversationId").ValueKind == JsonValueKind.Number), d =>
            Assert.Equal(1187, d.GetProperty("conversationId").GetInt32()));
    }

    [Fact]
    public async Task Ingest_WhenTheStoreRefusesTheWrite_Is503NamingNoPath_AndNothingIsKept_ThenTheRetryIsStored()
    {
        // SQLite itself refuses the insert (as a full disk would), from outside the server, for as long as the trigger is there.
        var database = Path.Combine(_server.Root, "data", "freescout-rules.db");
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database}"))
        {
            await connection.OpenAsync();
            await using var create = connection.CreateCommand();
            create.CommandText = "CREATE TRIGGER refuse_all BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'simulated disk full'); END;";
            await create.ExecuteNonQueryAsync();
        }

        var refused = await _server.PostFixtureAsync("convo.status.closed");
        var problem = await refused.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(10), refused.Headers.RetryAfter?.Delta); // Webhook:BodyIdleTimeout, as every 503 of the endpoint
        Assert.Contains("Storage unavailable", problem, StringComparison.Ordinal);
        Assert.DoesNotContain(_server.Root, problem, StringComparison.Ordinal);
        Assert.Empty(await _server.SettledDeliveriesAsync());

        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database}"))
        {
            await connection.OpenAsync();
            await using var drop = connection.CreateCommand();
            drop.CommandText = "DROP TRIGGER refuse_all;";
            await drop.ExecuteNonQueryAsync();
        }

        Assert.Equal(HttpStatusCode.Accepted, (await _server.PostFixtureAsync("convo.status.closed")).StatusCode);
        Assert.Equal("done", Assert.Single(await _server.SettledDeliveriesAsync()).GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task Ingest_SameEventSameBytes_Is200AndStoredAndProcessedOnce()
    {
        var first = await _server.PostFixtureAsync("convo.status.closed");
        var again = await _server.PostFixtureAsync("convo.status.closed");

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var answer = await again.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("duplicate", answer.GetProperty("status").GetString());
        Assert.Equal((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("deliveryId").GetInt64(), answer.GetProperty("deliveryId").GetInt64());
        var delivery = Assert.Single(await _server.SettledDeliveriesAsync());
        Assert.Single(delivery.GetProperty("statusChanges").EnumerateArray());
    }

    [Fact]
    public async Task Ingest_SendAndClose_SameBytesUnderTwoEvents_AreTwoDeliveriesAndOneStatusChange()
    {
        Assert.Equal(HttpStatusCode.Accepted, (await _server.PostFixtureAsync("convo.created")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await _server.PostFixtureAsync("convo.status.closed.on-reply")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await _server.PostFixtureAsync("convo.agent.reply.created.closed")).StatusCode);

        var deliveries = await _server.SettledDeliveriesAsync("&conversationId=1187");

        Assert.Equal(3, deliveries.Length);
        var change = Assert.Single(deliveries.SelectMany(d => d.GetProperty("statusChanges").EnumerateArray()));
        Assert.Equal("active", change.GetProperty("from").GetString());
        Assert.Equal("closed", change.GetProperty("to").GetString());
        Assert.Equal("convo.status", change.GetProperty("via").GetString());
    }

    [Theory]
    [InlineData(null, "missing")]
    [InlineData("", "missing")]
    [InlineData("not base64!", "does not match")]
    [InlineData("tQ3l/cRv0ZM7EQpCsH6v5kG0es4=", "does not match")]
    public async Task Ingest_BadOrMissingSignature_Is401AndStoresNothing(string? signature, string expected)
    {
        var (eventName, body, _) = SignedDeliveries.Get("convo.status.closed");

        var problem = await ProblemAsync(await _server.PostAsync(eventName, body, signature), HttpStatusCode.Unauthorized);

        Assert.Contains(expected, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Ingest_SignedButTruncatedJson_Is400AndStoresNothing()
    {
        var body = SignedDeliveries.Get("convo.status.closed").Body[..500];

        var problem = await ProblemAsync(await _server.PostAsync("convo.status", body, SignedDeliveries.Sign(body)), HttpStatusCode.BadRequest);

        Assert.Contains("convo.status: malformed JSON", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Ingest_DeeplyNestedJson_Is400AndStoresNothing()
    {
        var body = Encoding.UTF8.GetBytes("{\"id\":1,\"x\":" + new string('[', 5000) + new string(']', 5000) + "}");

        var problem = await ProblemAsync(await _server.PostAsync("convo.status", body, SignedDeliveries.Sign(body)), HttpStatusCode.BadRequest);

        Assert.Contains("nested too deeply", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Ingest_MissingFields_Is422NamingThem()
    {
        var body = Encoding.UTF8.GetBytes("{\"id\":1187,\"number\":1187}");

        var problem = await ProblemAsync(await _server.PostAsync("convo.status", body, SignedDeliveries.Sign(body)), HttpStatusCode.UnprocessableEntity);

        Assert.Equal("convo.status: status is required; updatedAt is required", problem.GetProperty("detail").GetString());
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Ingest_50MegabyteBody_Is413AndStoresNothing()
    {
        var body = new byte[50 * 1024 * 1024];
        body.AsSpan().Fill((byte)' ');

        var withLength = await _server.PostAsync("convo.status", body, SignedDeliveries.Sign(body));
        var request = SignedDeliveries.Request("convo.status", [], "x");
        request.Content = new StreamContent(new MemoryStream(body));
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TransferEncodingChunked = true;
        var chunked = await _server.Client.SendAsync(request);

        await ProblemAsync(withLength, HttpStatusCode.RequestEntityTooLarge);
        await ProblemAsync(chunked, HttpStatusCode.RequestEntityTooLarge);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Ingest_ManyAtOnce_WithAndWithoutContentLength_EachStoresItsOwnBytes()
    {
        // Request bodies are read into pooled buffers: each stored body must be its own request's bytes.
        var (eventName, template, _) = SignedDeliveries.Get("convo.status.closed");
        var text = Encoding.UTF8.GetString(template);
        var bodies = Enumerable.Range(0, 40)
            .Select(i => Encoding.UTF8.GetBytes(System.Text.RegularExpressions.Regex.Replace(text, "^\\{\"id\":\\d+", $"{{\"id\":{5000 + i}") + new string(' ', i * 97)))
            .ToArray();

        var answers = await Task.WhenAll(bodies.Select(async (body, i) =>
        {
            var request = SignedDeliveries.Request(eventName, body, SignedDeliveries.Sign(body));
            if (i % 2 == 1)
            {
                request.Content = new StreamContent(new MemoryStream(body));
                request.Content.Headers.ContentType = new("application/json");
                request.Headers.TransferEncodingChunked = true;
            }

            var response = await _server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("deliveryId").GetInt64();
        }));

        var inbox = _server.Services.GetRequiredService<FreeScoutRules.Engine.Storage.IInbox>();
        for (var i = 0; i < bodies.Length; i++)
        {
            Assert.Equal(bodies[i], (await inbox.GetStoredAsync(answers[i], default))!.Body);
        }
    }

    [Fact]
    public async Task Ingest_BodyShorterThanItsContentLength_Is400AndStoresNothing()
    {
        var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");
        var request = SignedDeliveries.Request(eventName, body, signature);
        request.Content = new StreamContent(new MemoryStream(body[..(body.Length / 2)]));
        request.Content.Headers.ContentType = new("application/json");
        request.Content.Headers.ContentLength = body.Length;

        var problem = await ProblemAsync(await _server.Client.SendAsync(request), HttpStatusCode.BadRequest);

        Assert.Contains("Content-Length", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertNothingStoredAsync();
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/xml")]
    public async Task Ingest_WrongContentType_Is415AndStoresNothing(string contentType)
    {
        var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");

        await ProblemAsync(await _server.PostAsync(eventName, body, signature, contentType), HttpStatusCode.UnsupportedMediaType);
        await AssertNothingStoredAsync();
    }

    [Theory]
    [InlineData("application/hal+json")]
    [InlineData("application/json; charset=utf-8")]
    public async Task Ingest_JsonContentTypesOfOldAndNewModules_AreAccepted(string contentType)
    {
        var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");

        Assert.Equal(HttpStatusCode.Accepted, (await _server.PostAsync(eventName, body, signature, contentType)).StatusCode);
    }

    [Fact]
    public async Task Ingest_UnknownEvent_Is422AndStoresNothing()
    {
        var (_, body, signature) = SignedDeliveries.Get("convo.status.closed");

        var problem = await ProblemAsync(await _server.PostAsync("convo.stauts", body, signature), HttpStatusCode.UnprocessableEntity);

        Assert.Contains("Unknown event 'convo.stauts'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Ingest_CustomWorkflowsEvent_IsAcceptedWhenConfigured()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Webhook:AcceptCustomEvents"] = "true" });
        var (_, body, signature) = SignedDeliveries.Get("convo.status.closed");

        var response = await server.PostAsync("custom.webhook.event", body, signature);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var delivery = Assert.Single(await server.SettledDeliveriesAsync());
        Assert.Equal("done", delivery.GetProperty("outcome").GetString());
    }
}
