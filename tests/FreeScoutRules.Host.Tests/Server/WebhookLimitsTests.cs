using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Server;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// The webhook endpoint's limits one at a time, in process with bodies that stall on cue: requests at once
/// (<c>Webhook:MaxConcurrentRequests</c>), bytes of bodies at once (<c>Webhook:MaxBufferedBytes</c>) and the per-read idle
/// timeout (<c>Webhook:BodyIdleTimeout</c>). The real sockets and memory under 200 stalled uploads: EndToEnd/StalledUploadsTests.
/// </summary>
public sealed class WebhookLimitsTests
{
    private const int KiB = 1024;

    [Fact]
    public async Task OneRequestMoreThanMaxConcurrentRequests_Is503WithRetryAfter_AndTheNextOneIsAcceptedOnceAPlaceIsFree()
    {
        await using var server = await TestServerHost.StartAsync(new() { ["Webhook:MaxConcurrentRequests"] = "1", ["Webhook:BodyIdleTimeout"] = "00:00:30" });
        var limits = server.Services.GetRequiredService<WebhookLimits>();
        var free = limits.SharedBytesAvailable;
        // A body larger than its first chunk, so that the shared budget shows when the server is reading it (holding the place).
        var large = new byte[200 * KiB];
        Array.Fill(large, (byte)' ');
        using var holding = new StallingContent(large, stallAfter: 150 * KiB);
        var first = server.Client.SendAsync(Request("convo.status", holding, "AAAA"));
        await Eventually.UntilAsync("the first request to be read, holding the one place", () =>
            Task.FromResult((limits.SharedBytesAvailable < free, $"{limits.SharedBytesAvailable} of {free} bytes free")));

        using var second = await server.PostFixtureAsync("convo.assigned");
        holding.Release();
        using var firstAnswer = await first;
        using var third = await server.PostFixtureAsync("convo.assigned");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.Equal("30", second.Headers.GetValues("Retry-After").Single()); // the idle timeout: a held place is free by then
        Assert.True(second.Headers.ConnectionClose);
        var problem = await second.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("Webhook:MaxConcurrentRequests", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, firstAnswer.StatusCode); // read whole once released, then refused for its signature
        Assert.Equal(HttpStatusCode.Accepted, third.StatusCode);
        Assert.Contains(server.Logs, l => l.Contains("Webhook delivery refused (busy)", StringComparison.Ordinal));
        Assert.Single(await server.SettledDeliveriesAsync());
    }

    [Fact]
    public async Task ABodyBeyondTheSharedBudget_Is503_WhileSmallDeliveriesStillFitInTheirFirstChunk()
    {
        // 4 requests × 64 KiB first chunks + 256 KiB shared by larger bodies.
        await using var server = await TestServerHost.StartAsync(new()
        {
            ["Webhook:MaxConcurrentRequests"] = "4",
            ["Webhook:MaxBodyBytes"] = $"{256 * KiB}",
            ["Webhook:MaxBufferedBytes"] = $"{(4 * 64 * KiB) + (256 * KiB)}",
            ["Webhook:BodyIdleTimeout"] = "00:00:30",
        });
        var limits = server.Services.GetRequiredService<WebhookLimits>();
        var large = new byte[256 * KiB];
        Array.Fill(large, (byte)' ');
        // 200 KiB arrived of 256: a 256 KiB buffer, 192 KiB of it from the shared budget, held while the sender stalls.
        using var holding = new StallingContent(large, stallAfter: 200 * KiB);
        var first = server.Client.SendAsync(Request("convo.status", holding, "AAAA"));
        await holding.Stalled;
        await Eventually.UntilAsync("the stalled body to hold its buffer", () =>
            Task.FromResult((limits.SharedBytesAvailable == 64 * KiB, $"{limits.SharedBytesAvailable} bytes free")));

        using var over = await server.Client.SendAsync(Request("convo.status", new ByteArrayContent(large), "AAAA"));
        using var small = await server.PostFixtureAsync("convo.status.closed");
        holding.Release();
        using var firstAnswer = await first;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, over.StatusCode);
        Assert.Equal("30", over.Headers.GetValues("Retry-After").Single());
        Assert.Contains("Webhook:MaxBufferedBytes", (await over.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, small.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, firstAnswer.StatusCode); // read whole, then refused for its signature
        Assert.Equal(256 * KiB, limits.SharedBytesAvailable); // every reservation given back
        Assert.Contains(server.Logs, l => l.Contains("Webhook delivery refused (buffer_full)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ABodyWhoseBytesStopArriving_IsCutWith408AfterTheIdleTimeout_NotBefore()
    {
        // 1 s: four times the trickle's gaps, so that a loaded machine's late timer does not make a gap look idle (at 500 ms a
        // CI run once saw the cut after 1.16 s, the trickle late).
        await using var server = await TestServerHost.StartAsync(new() { ["Webhook:BodyIdleTimeout"] = "00:00:01" });
        var (eventName, body, signature) = SignedDeliveries.Get("convo.status.closed");
        // Bytes keep coming every 200 ms for a second, as long as the idle timeout in all: each read restarts it.
        using var trickle = new StallingContent(body, stallAfter: body.Length - 6, trickle: 5, trickleEvery: TimeSpan.FromMilliseconds(200));
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        using var answer = await server.Client.SendAsync(Request(eventName, trickle, signature));
        var took = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        trickle.Release();

        Assert.Equal(HttpStatusCode.RequestTimeout, answer.StatusCode);
        Assert.True(answer.Headers.ConnectionClose);
        Assert.Contains("Webhook:BodyIdleTimeout", (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.InRange(took, TimeSpan.FromSeconds(1.8), TimeSpan.FromSeconds(6)); // 5 trickled reads, then 1 s of nothing
        Assert.Contains(server.Logs, l => l.Contains("Webhook delivery refused (stalled)", StringComparison.Ordinal));
        Assert.Empty(await server.SettledDeliveriesAsync());
    }

    private static HttpRequestMessage Request(string eventName, HttpContent content, string signature)
    {
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/freescout") { Content = content };
        request.Headers.Add("X-FreeScout-Event", eventName);
        request.Headers.Add("X-FreeScout-Signature", signature);
        return request;
    }

    /// <summary>
    /// A body with its Content-Length that sends its first <c>stallAfter</c> bytes, then (optionally) one byte every
    /// <c>trickleEvery</c> for <c>trickle</c> bytes, then waits for <see cref="Release"/> before it sends the rest.
    /// </summary>
    private sealed class StallingContent(byte[] body, int stallAfter, int trickle = 0, TimeSpan trickleEvery = default) : HttpContent
    {
        private readonly TaskCompletionSource _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Done once the first part is sent and the body waits.</summary>
        public Task Stalled => _stalled.Task;

        public void Release() => _release.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(body.AsMemory(0, stallAfter));
            await stream.FlushAsync();
            var sent = stallAfter;
            for (var i = 0; i < trickle && sent < body.Length; i++, sent++)
            {
                await Task.Delay(trickleEvery);
                await stream.WriteAsync(body.AsMemory(sent, 1));
                await stream.FlushAsync();
            }

            _stalled.TrySetResult();
            // Stops by itself: a test that fails before releasing it does not leave it waiting.
            await _release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await stream.WriteAsync(body.AsMemory(sent));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }
}
