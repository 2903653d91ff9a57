using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>A real HTTP server on loopback (Kestrel) that stands in for Slack or FreeScout: records every request, answers from a script.</summary>
internal sealed class HttpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<int> _script = new();
    private readonly ConcurrentQueue<TimeSpan> _delays = new();
    private readonly ConcurrentDictionary<string, (int Status, string Location)> _redirects = new(StringComparer.Ordinal);

    private HttpReceiver(WebApplication app)
    {
        _app = app;
    }

    /// <summary>Where it listens: a port the system gave it when it started (never one chosen beforehand, which another test could take first).</summary>
    public Uri Address { get; private set; } = null!;

    public ConcurrentQueue<(string Path, string Body, string? IdempotencyKey, DateTimeOffset At)> Requests { get; } = new();

    /// <summary>Every request with its method and headers.</summary>
    public ConcurrentQueue<(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)> Calls { get; } = new();

    /// <summary>Status codes to answer, in order (429 comes with Retry-After: 1); 200 once the script is used up.</summary>
    public void Answer(params int[] statuses)
    {
        foreach (var status in statuses)
        {
            _script.Enqueue(status);
        }
    }

    /// <summary>Delays before answering, in order (a slow target); none once used up.</summary>
    public void Delay(params TimeSpan[] delays)
    {
        foreach (var delay in delays)
        {
            _delays.Enqueue(delay);
        }
    }

    /// <summary>A wait before every answer (after the scripted <see cref="Delay"/>s): a target that takes its time, so that attempts are in flight.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Answers every request to <paramref name="path"/> with <paramref name="status"/> and <c>Location: <paramref name="location"/></c>.</summary>
    public void Redirect(string path, int status, string location) => _redirects[path] = (status, location);

    public static async Task<HttpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new HttpReceiver(app);
        app.MapMethods("/{**path}", ["GET", "POST", "PUT", "PATCH", "DELETE"], async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            receiver.Requests.Enqueue((http.Request.Path, body, http.Request.Headers["Idempotency-Key"].FirstOrDefault(), DateTimeOffset.UtcNow));
            receiver.Calls.Enqueue((http.Request.Method, http.Request.Path, http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), body));
            if (receiver._delays.TryDequeue(out var delay))
            {
                await Task.Delay(delay, http.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            else if (receiver.Latency > TimeSpan.Zero)
            {
                await Task.Delay(receiver.Latency, http.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            if (receiver._redirects.TryGetValue(http.Request.Path, out var redirect))
            {
                http.Response.Headers.Location = redirect.Location;
                return Results.StatusCode(redirect.Status);
            }

            var status = receiver._script.TryDequeue(out var scripted) ? scripted : 200;
            if (status == 429)
            {
                http.Response.Headers.RetryAfter = "1";
            }

            return Results.StatusCode(status);
        });
        await app.StartAsync();
        receiver.Address = new Uri(app.Urls.Single().TrimEnd('/') + "/");
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
