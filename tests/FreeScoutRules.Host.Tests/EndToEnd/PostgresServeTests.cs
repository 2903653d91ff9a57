using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Host.Tests.Support;
using Npgsql;

namespace FreeScoutRules.Host.Tests.EndToEnd;

/// <summary>
/// <c>serve</c> on PostgreSQL (<c>Storage:Provider=postgres</c>, <c>ConnectionStrings__Postgres</c>), as a real process
/// on the test cluster: the fixtures in, the outcome out through the admin API and the CLI, from the database, with
/// the connection string's password in neither the log nor the output.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresServeTests(PostgresCluster cluster) : IDisposable
{
    private const string ConsoleKey = ServeProcess.ConsoleKey;

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-pg-e2e-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    [Fact]
    public async Task Serve_OnPostgres_ProcessesTheFixtures_AndTheCliReadsTheSameDatabase()
    {
        var connectionString = await cluster.CreateDatabaseAsync();
        var password = new NpgsqlConnectionStringBuilder(connectionString).Password!;
        var environment = new Dictionary<string, string>
        {
            ["Storage__Provider"] = "postgres",
            ["ConnectionStrings__Postgres"] = connectionString,
            ["FREESCOUTRULES_CONSOLE_KEY"] = ConsoleKey,
        };
        await using var server = await ServeProcess.StartAsync(_root, environment);
        foreach (var (name, eventName, body, signature) in SignedDeliveries.All())
        {
            var response = await server.PostAsync(eventName, body, signature);
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{name}: {(int)response.StatusCode}");
        }

        var redelivery = SignedDeliveries.Get("convo.status.closed");
        Assert.Equal(HttpStatusCode.OK, (await server.PostAsync(redelivery.Event, redelivery.Body, redelivery.Signature)).StatusCode);

        var deliveries = await server.SettledDeliveriesAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(15, deliveries.Length);
        Assert.Equal(13, deliveries.Count(d => d.GetProperty("outcome").GetString() == "done"));
        var changes = deliveries.Reverse().SelectMany(d => d.GetProperty("statusChanges").EnumerateArray())
            .Select(c => $"{c.GetProperty("from").GetString() ?? "?"}->{c.GetProperty("to").GetString()}").ToList();
        Assert.Contains("pending->active", changes);
        Assert.Contains("closed->active", changes);

        // The database holds what the admin API said (the store is PostgreSQL, not a file in the data directory).
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand("SELECT COUNT(*) FROM deliveries WHERE outcome = 'done'", connection);
            Assert.Equal(13L, await count.ExecuteScalarAsync());
        }

        Assert.False(File.Exists(Path.Combine(_root, "data", "freescout-rules.db")), "no SQLite database beside it");
        var status = await server.Admin.GetFromJsonAsync<JsonElement>("/api/status");
        Assert.Contains("PostgreSQL", status.ToString(), StringComparison.Ordinal);

        // A CLI verb with the same settings reads the server's database.
        var done = deliveries.First(d => d.GetProperty("outcome").GetString() == "done").GetProperty("id").GetInt64();
        var explain = await CliProcess.RunWithEnvironmentAsync(
            environment, null, "explain", "--delivery", done.ToString(CultureInfo.InvariantCulture), "--rules", Path.Combine(_root, "rules"));
        Assert.True(explain.ExitCode == 0, explain.Error);
        Assert.Contains($"delivery {done}", explain.Output, StringComparison.Ordinal);

        // Every console page reads the database (the PostgreSQL store's queries behind each).
        using var console = Browserless(server);
        var cookie = await ConsoleClient.SignInAsync(console);
        var conversation = deliveries.First(d => d.GetProperty("conversationId").ValueKind == JsonValueKind.Number).GetProperty("conversationId").GetInt32();
        foreach (var page in new[]
        {
            "/", "/rules", "/deliveries", $"/deliveries/{done}", "/deliveries?outcome=done&ruleFailed=true", "/conversations",
            $"/conversations/{conversation}", "/actions", "/actions?state=dead",
        })
        {
            var (code, html, _) = await ConsoleClient.GetAsync(console, page, cookie);
            Assert.True(code == HttpStatusCode.OK, $"{page}: {(int)code}\n{html[..Math.Min(html.Length, 400)]}\n{server.Log[^Math.Min(server.Log.Length, 2000)..]}");
        }

        var (found, _, location) = await ConsoleClient.GetAsync(console, $"/conversations?q={conversation}", cookie);
        Assert.Equal((HttpStatusCode.Redirect, $"/conversations/{conversation}"), (found, location?.OriginalString));

        Assert.DoesNotContain(password, server.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(password, status.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(password, explain.Output + explain.Error, StringComparison.Ordinal);
    }

    /// <summary>
    /// The container disposes the store once per port it was resolved as: a second dispose used to throw
    /// (ObjectDisposedException), so a clean stop ended with a stack trace, and a start refused for rules that do not
    /// compile lost its message to it.
    /// </summary>
    [Fact]
    public async Task Serve_OnPostgres_StopsCleanly_AndRulesThatDoNotCompileStopTheStartWithTheirMessage()
    {
        var environment = new Dictionary<string, string> { ["Storage__Provider"] = "postgres", ["ConnectionStrings__Postgres"] = await cluster.CreateDatabaseAsync() };
        await using (var server = await ServeProcess.StartAsync(_root, environment))
        {
            Assert.Equal(0, await server.StopAsync());
            Assert.DoesNotContain("   at ", server.Log, StringComparison.Ordinal);
        }

        await File.WriteAllTextAsync(Path.Combine(_root, "rules", "broken.csx"), "public class Broken : Rule { this is not C# }");
        var start = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string>(environment) { ["FREESCOUTRULES_WEBHOOK_SECRET"] = SignedDeliveries.Secret },
            null, "serve", "--urls", "http://127.0.0.1:0", "--data-dir", Path.Combine(_root, "data"), "--rules", Path.Combine(_root, "rules"));

        Assert.Equal(2, start.ExitCode);
        Assert.Contains("The rules do not compile", start.Error, StringComparison.Ordinal);
        Assert.Contains("broken.csx", start.Error, StringComparison.Ordinal);
        Assert.Equal("The server did not start.", start.ErrorLines[^1]);
        Assert.DoesNotContain("Unhandled exception", start.Output + start.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheCli_OnADatabaseWithoutTheSchema_SaysSo_AndCreatesNothing()
    {
        var connectionString = await cluster.CreateDatabaseAsync();
        var environment = new Dictionary<string, string> { ["Storage__Provider"] = "postgres", ["ConnectionStrings__Postgres"] = connectionString };

        var replay = await CliProcess.RunWithEnvironmentAsync(environment, null, "replay", "--rules", Path.Combine(AppContext.BaseDirectory, "rules"));

        Assert.Equal(2, replay.ExitCode);
        Assert.Contains("no FreeScoutRules database here (start `serve` with Storage:Provider=postgres once to create it).", replay.Error, StringComparison.Ordinal);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var tables = new NpgsqlCommand("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'", connection);
        Assert.Equal(0L, await tables.ExecuteScalarAsync());
    }

    [Fact]
    public async Task TwoInstances_RunningDifferentRules_AreShownAsARollout_AndReadyzSaysSoOnceItLasts()
    {
        var connectionString = await cluster.CreateDatabaseAsync();
        var environment = new Dictionary<string, string>
        {
            ["Storage__Provider"] = "postgres",
            ["ConnectionStrings__Postgres"] = connectionString,
            ["FREESCOUTRULES_CONSOLE_KEY"] = ConsoleKey,
            ["Dispatch__LeaseTime"] = "00:00:02",
            ["Rules__MaxGenerationSkew"] = "00:00:10",
        };
        await using var first = await ServeProcess.StartAsync(Path.Combine(_root, "first"), environment);
        Directory.CreateDirectory(Path.Combine(_root, "second", "rules"));
        await File.WriteAllTextAsync(Path.Combine(_root, "second", "rules", "rollout.csx"), """
            public class RolloutNewRule : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery);
                    Then().Do(ctx => Seen(delivery));
                }

                private static void Seen(Delivery delivery) { }
            }
            """);
        await using var second = await ServeProcess.StartAsync(Path.Combine(_root, "second"), environment);

        JsonElement status = default;
        await Eventually.UntilAsync("the first instance to see both generations", async () =>
        {
            status = await first.Admin.GetFromJsonAsync<JsonElement>("/api/status");
            return (status.GetProperty("rules").GetProperty("inForce").GetArrayLength() == 2, status.GetProperty("rules").ToString());
        }, TimeSpan.FromSeconds(20));

        var instances = status.GetProperty("instances").EnumerateArray().Where(i => i.GetProperty("alive").GetBoolean()).ToList();
        Assert.Equal(2, instances.Select(i => i.GetProperty("rulesGeneration").GetString()).Distinct().Count());
        var own = instances.Single(i => i.GetProperty("self").GetBoolean()).GetProperty("rulesGeneration").GetString();
        Assert.Equal(status.GetProperty("rules").GetProperty("generation").GetString(), own);
        Assert.NotEqual(JsonValueKind.Null, status.GetProperty("rules").GetProperty("mixedSince").ValueKind);
        Assert.Equal(HttpStatusCode.OK, (await first.Client.GetAsync("/readyz")).StatusCode); // within the tolerance

        // Past the tolerance: Degraded, still 200 (a balancer checking /readyz keeps every instance in service: the mix is the
        // same on all of them), saying why to a caller with the token.
        string body = "";
        await Eventually.UntilAsync("/readyz to say the rollout lasts", async () =>
        {
            using var response = await first.Admin.GetAsync("/readyz");
            body = await response.Content.ReadAsStringAsync();
            return (response.StatusCode == HttpStatusCode.OK && body.StartsWith("Degraded: ", StringComparison.Ordinal), body);
        }, TimeSpan.FromSeconds(30));
        // The second says so too, from its own view (each instance looks at the others every few renewals), the word only
        // without the token.
        await Eventually.UntilAsync("the second's /readyz to say Degraded", async () =>
        {
            var word = await (await second.Client.GetAsync("/readyz")).Content.ReadAsStringAsync();
            return (word == "Degraded", word);
        }, TimeSpan.FromSeconds(30));
        Assert.Contains("Rules: the instances have run 2 rule generations at once since ", body, StringComparison.Ordinal);
        Assert.Contains("deploy the same rules folder to every instance", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AConsoleSignIn_OnOneInstance_IsValidOnAnother_AndTheDatabaseHoldsItsKeysEncrypted()
    {
        var connectionString = await cluster.CreateDatabaseAsync();
        var environment = new Dictionary<string, string>
        {
            ["Storage__Provider"] = "postgres",
            ["ConnectionStrings__Postgres"] = connectionString,
            ["FREESCOUTRULES_CONSOLE_KEY"] = ConsoleKey,
        };
        await using var first = await ServeProcess.StartAsync(Path.Combine(_root, "first"), environment);
        await using var second = await ServeProcess.StartAsync(Path.Combine(_root, "second"), environment);

        using var toFirst = Browserless(first);
        using var toSecond = Browserless(second);
        var cookie = await ConsoleClient.SignInAsync(toFirst);

        Assert.Equal(HttpStatusCode.OK, await ConsoleClient.GetStatusAsync(toSecond, "/", cookie));
        Assert.Equal(HttpStatusCode.OK, await ConsoleClient.GetStatusAsync(toFirst, "/", cookie));
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var keys = new NpgsqlCommand("SELECT xml FROM data_protection_keys", connection);
        var stored = new List<string>();
        await using (var reader = await keys.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                stored.Add(reader.GetString(0));
            }
        }

        Assert.NotEmpty(stored);
        Assert.All(stored, xml =>
        {
            Assert.Contains("urn:freescout-rules:console-keys", xml, StringComparison.Ordinal);
            Assert.DoesNotContain("masterKey", xml, StringComparison.Ordinal);
        });
        Assert.False(Directory.Exists(Path.Combine(_root, "first", "data", "console-keys")), "no keys in the data directory");

        // An instance given another key cannot read the keys: the sign-in is not valid there, and its log says why.
        await using var stranger = await ServeProcess.StartAsync(
            Path.Combine(_root, "stranger"), new Dictionary<string, string>(environment) { ["FREESCOUTRULES_CONSOLE_KEY"] = "another-console-key-0123456789abcdefXYZ" });
        using var toStranger = Browserless(stranger);
        Assert.Equal(HttpStatusCode.Redirect, await ConsoleClient.GetStatusAsync(toStranger, "/", cookie));
        await Eventually.UntilAsync("the stranger's log to say why", () => Task.FromResult(
            stranger.Log.Contains("encrypted with another Console:KeyEncryptionKey", StringComparison.Ordinal)));
    }

    /// <summary>A client of the server's console that sees redirects rather than following them.</summary>
    private static HttpClient Browserless(ServeProcess server) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = server.Client.BaseAddress };
}
