using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// The real server composition (<see cref="ServerApp"/>) on ASP.NET Core's in-memory TestServer (or on Kestrel on loopback), with
/// its own temporary data directory and the built-in rules (plus extra rule files a test writes).
/// </summary>
internal sealed class TestServerHost : IAsyncDisposable
{
    public const string AdminToken = "test-admin-token-0123456789abcdefXYZ";

    private readonly WebApplication _app;
    private readonly LogCapture _logs;

    private TestServerHost(WebApplication app, string root, LogCapture logs, bool kestrel)
    {
        _app = app;
        _logs = logs;
        Root = root;
        Client = kestrel ? LoopbackClient(app) : app.GetTestClient();
        Admin = kestrel ? LoopbackClient(app) : app.GetTestClient();
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
    }

    /// <summary>A client of the real Kestrel on loopback that, like the test server's, keeps no cookies and follows no redirects.</summary>
    private static HttpClient LoopbackClient(WebApplication app) =>
        new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = new Uri(app.Urls.Single()) };

    public string Root { get; }

    /// <summary>False keeps the data directory for a test that starts a second server on it.</summary>
    public bool DeleteRootOnDispose { get; set; } = true;

    public HttpClient Client { get; }

    public HttpClient Admin { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The in-memory server, for a request with what an HttpClient cannot set (the client's address).</summary>
    public TestServer TestServer => _app.GetTestServer();

    /// <summary>Every log line of the server so far.</summary>
    public IReadOnlyCollection<string> Logs => _logs.Lines;

    public static async Task<TestServerHost> StartAsync(
        Dictionary<string, string?>? settings = null, IReadOnlyDictionary<string, string>? extraRules = null, string? root = null,
        bool samplePlugin = false, TimeProvider? time = null, bool kestrel = false, Action<WebApplicationBuilder>? configure = null)
    {
        root ??= Path.Combine(Path.GetTempPath(), $"fsr-server-{Guid.NewGuid():N}");
        var rules = Path.Combine(root, "rules");
        Directory.CreateDirectory(rules);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules", "status-change.csx"), Path.Combine(rules, "status-change.csx"), overwrite: true);
        foreach (var (name, code) in extraRules ?? new Dictionary<string, string>())
        {
            await File.WriteAllTextAsync(Path.Combine(rules, name), code);
        }

        var plugins = Path.Combine(root, "plugins");
        Directory.CreateDirectory(plugins);
        if (samplePlugin)
        {
            SamplePlugin.DropInto(plugins);
        }

        var flags = new Dictionary<string, string?>
        {
            ["Rules:PluginsDirectory"] = plugins,
            ["Webhook:Secret"] = SignedDeliveries.Secret,
            ["Admin:Token"] = AdminToken,
            ["Storage:DataDirectory"] = Path.Combine(root, "data"),
            ["Rules:Directory"] = rules,
            ["Dispatch:RetryDelay"] = "00:00:00.010",
        };
        if (kestrel)
        {
            // The real Kestrel on a free loopback port, for what the test server does not do as Kestrel does (it checks
            // response headers, for one).
            flags["urls"] = "http://127.0.0.1:0";
        }

        foreach (var (key, value) in settings ?? [])
        {
            flags[key] = value;
        }

        var logs = new LogCapture();
        var app = ServerApp.Build(flags, builder =>
        {
            if (!kestrel)
            {
                builder.WebHost.UseTestServer();
            }

            builder.Logging.AddProvider(logs);
            if (time is not null)
            {
                // The clock of receipts, timers, retries and sleeps: a test moves it with FakeTimeProvider.Advance.
                builder.Services.AddSingleton(time);
            }

            configure?.Invoke(builder);
        });
        await app.StartAsync();
        return new TestServerHost(app, root, logs, kestrel);
    }

    public Task<HttpResponseMessage> PostAsync(string eventName, byte[] body, string? signature, string contentType = "application/json") =>
        Client.SendAsync(SignedDeliveries.Request(eventName, body, signature, contentType));

    public Task<HttpResponseMessage> PostFixtureAsync(string name)
    {
        var (eventName, body, signature) = SignedDeliveries.Get(name);
        return PostAsync(eventName, body, signature);
    }

    /// <summary>The admin API's deliveries, newest first, once none of them is pending any more; throws naming those still pending.</summary>
    public async Task<JsonElement[]> SettledDeliveriesAsync(string query = "", TimeSpan? timeout = null)
    {
        JsonElement[] items = [];
        await Eventually.UntilAsync($"no delivery{query} pending", async () =>
        {
            var page = await Admin.GetFromJsonAsync<JsonElement>($"/api/deliveries?pageSize=500{query}");
            items = page.GetProperty("items").EnumerateArray().ToArray();
            var pending = items.Where(i => i.GetProperty("outcome").GetString() == "pending").Select(i => i.GetProperty("id").GetInt64()).ToList();
            return (pending.Count == 0, $"still pending: deliveries {string.Join(", ", pending)}");
        }, timeout);
        return items;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Client.Dispose();
        Admin.Dispose();
        if (DeleteRootOnDispose)
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
