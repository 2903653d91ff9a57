using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>
/// FreeScout's REST API (the "API &amp; Webhooks" module, v1.0.87) as far as FreeScoutRules reads it, served by a real
/// Kestrel on loopback: <c>GET /api/conversations</c> with its filters, order and pages, <c>GET /api/conversations/{id}</c>,
/// the API key, and failures on demand. Conversations live in memory and change only through this class (or
/// <c>/_standin/touch</c>). Every member is thread-safe; dispose it to stop the server.
/// </summary>
public sealed class FreeScoutStandIn : IAsyncDisposable
{
    /// <summary>How many requests <see cref="Requests"/> keeps (the latest); <see cref="RequestCount"/> counts them all.</summary>
    public const int RecordedRequestLimit = 100_000;

    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly Queue<StandInRequest> _requests = new();
    private long _requestCount;
    private int _failuresLeft;
    private HttpStatusCode _failureStatus;
    private TimeSpan? _failureRetryAfter;
    private long _latencyTicks;
    private volatile bool _down;

    private FreeScoutStandIn(WebApplication app, string apiKey)
    {
        _app = app;
        ApiKey = apiKey;
    }

    /// <summary>FreeScout's base address, e.g. <c>http://127.0.0.1:41234/</c>; the API is under <c>api/</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>The key that requests must carry (<c>X-FreeScout-API-Key</c> header or <c>?api_key=</c>).</summary>
    public string ApiKey { get; }

    /// <summary>How many conversations are stored.</summary>
    public int Count => Store.Count;

    /// <summary>While true every request is aborted without an answer (the connection is reset), like an unreachable FreeScout.</summary>
    public bool Down
    {
        get => _down;
        set => _down = value;
    }

    /// <summary>Added before every answer (zero by default).</summary>
    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, value.Ticks);
    }

    /// <summary>The requests received, oldest first (at most the latest <see cref="RecordedRequestLimit"/>); a copy.</summary>
    public IReadOnlyList<StandInRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>How many requests were received since the start or <see cref="ClearRequests"/>.</summary>
    public long RequestCount
    {
        get
        {
            lock (_gate)
            {
                return _requestCount;
            }
        }
    }

    internal ConversationStore Store { get; } = new();

    /// <summary>Starts the server on <paramref name="url"/> (port 0: one the system picks, never one chosen beforehand).</summary>
    public static async Task<FreeScoutStandIn> StartAsync(string apiKey = "test-api-key", string url = "http://127.0.0.1:0")
    {
        ArgumentException.ThrowIfNullOrEmpty(apiKey);
        ArgumentException.ThrowIfNullOrEmpty(url);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        var app = builder.Build();
        var standIn = new FreeScoutStandIn(app, apiKey);
        StandInApi.Map(app, standIn);
        await app.StartAsync();
        standIn.Address = new Uri(app.Urls.First().TrimEnd('/') + "/");
        return standIn;
    }

    /// <summary>Conversations 1..<paramref name="count"/>: number 1000 + id, status active, pending, closed in turn, updatedAt <paramref name="from"/> + (id − 1) × <paramref name="step"/> in whole seconds.</summary>
    public static StandInConversation[] Generate(int count, DateTimeOffset from, TimeSpan step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var conversations = new StandInConversation[count];
        for (var i = 0; i < count; i++)
        {
            var id = i + 1;
            conversations[i] = new StandInConversation(
                id, 1000 + id, StandInConversation.Statuses[i % 3], ToWholeSeconds(from + (i * step)), Subject: $"Subject {id}");
        }

        return conversations;
    }

    /// <summary>Adds the conversation, or replaces the one with its id. Throws <see cref="ArgumentException"/> for a status or state FreeScout does not have.</summary>
    public void Put(StandInConversation conversation) => Store.Put(conversation);

    /// <summary>Adds or replaces each conversation.</summary>
    public void PutAll(IEnumerable<StandInConversation> conversations)
    {
        ArgumentNullException.ThrowIfNull(conversations);
        foreach (var conversation in conversations)
        {
            Store.Put(conversation);
        }
    }

    /// <summary>An agent's change: sets the status, updatedAt and userUpdatedAt (and closedAt when closing). Throws <see cref="KeyNotFoundException"/> for an unknown id.</summary>
    public StandInConversation Touch(int id, string status, DateTimeOffset updatedAt) => Store.Touch(id, status, updatedAt);

    /// <summary>Touches the <paramref name="count"/> least recently updated conversations, each to the next status of active → pending → closed → active; returns their ids.</summary>
    public IReadOnlyList<int> TouchOldest(int count, DateTimeOffset updatedAt) => Store.TouchOldest(count, updatedAt);

    /// <summary>Removes the conversation; false when there was none.</summary>
    public bool Remove(int id) => Store.Remove(id);

    /// <summary>The stored conversation (normalised: whole seconds, createdAt filled), or null.</summary>
    public StandInConversation? Find(int id) => Store.Find(id)?.Conversation;

    /// <summary>The next <paramref name="count"/> requests under <c>/api/</c> answer <paramref name="status"/> with <c>{"message":"…"}</c> (and <c>Retry-After</c> in whole seconds when given), before the key is checked. Replaces an earlier call's failures.</summary>
    public void FailNext(int count, HttpStatusCode status, TimeSpan? retryAfter = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_gate)
        {
            _failuresLeft = count;
            _failureStatus = status;
            _failureRetryAfter = retryAfter;
        }
    }

    /// <summary>Forgets the requests received so far.</summary>
    public void ClearRequests()
    {
        lock (_gate)
        {
            _requests.Clear();
            _requestCount = 0;
        }
    }

    /// <summary>Waits until the server is stopped (Ctrl+C, SIGTERM or <see cref="DisposeAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal static DateTimeOffset ToWholeSeconds(DateTimeOffset value) =>
        new(value.UtcTicks - (value.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    internal bool TryTakeFailure(out HttpStatusCode status, out TimeSpan? retryAfter)
    {
        lock (_gate)
        {
            status = _failureStatus;
            retryAfter = _failureRetryAfter;
            if (_failuresLeft == 0)
            {
                return false;
            }

            _failuresLeft--;
            return true;
        }
    }

    internal void Record(StandInRequest request)
    {
        lock (_gate)
        {
            _requestCount++;
            _requests.Enqueue(request);
            if (_requests.Count > RecordedRequestLimit)
            {
                _requests.Dequeue();
            }
        }
    }
}
