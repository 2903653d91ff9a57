using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Npgsql;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// Several real <c>serve</c> processes on one PostgreSQL database (issue 22), each with its own data directory and the
/// same rules (the built-in status rules and <see cref="Rules"/>, which post to a <see cref="HttpReceiver"/>), and the
/// SQL the tests check the store with. Instance <c>i</c> lives in <c>root/i</c>; a killed one can be started again in
/// a new folder.
/// </summary>
internal sealed class PostgresInstances : IAsyncDisposable
{
    private readonly string _root;
    private readonly IReadOnlyDictionary<string, string> _settings;
    private readonly string _rules;
    private readonly List<ServeProcess> _all = [];
    private int _started;

    private PostgresInstances(string root, string connectionString, HttpReceiver receiver, IReadOnlyDictionary<string, string> settings, string rules)
    {
        _rules = rules;
        _root = root;
        ConnectionString = connectionString;
        Receiver = receiver;
        _settings = settings;
    }

    /// <summary>The database every instance uses (the test's own, on the test cluster).</summary>
    public string ConnectionString { get; }

    public HttpReceiver Receiver { get; }

    /// <summary>Every instance started, killed ones included, in starting order.</summary>
    public IReadOnlyList<ServeProcess> All => _all;

    /// <summary>The rules folder of the first instance (every instance has the same files).</summary>
    public string RulesDirectory => Path.Combine(_root, "0", "rules");

    /// <summary>
    /// Rules of the multi-instance tests: every status change posts an intent to the receiver (<c>/changes</c>, with what
    /// changed); every new conversation schedules a follow-up 5 s later whose firing posts one too (<c>/followups</c>).
    /// </summary>
    public static string Rules(HttpReceiver receiver) => $$"""
        public class PostStatusChange : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change);
                Then().Do(ctx => ctx.Enqueue("http", new { url = "{{receiver.Address}}changes", body = new { conversation = change.ConversationId, from = change.From, to = change.To, via = change.Via } }));
            }
        }

        public class FollowUpLater : Rule
        {
            public override void Define()
            {
                Delivery delivery = default!;
                When().Match(() => delivery, d => d.Event == "convo.created");
                Then().Do(ctx => ctx.Schedule("followup", delivery.ConversationId, TimeSpan.FromSeconds(5)));
            }
        }

        public class FollowUpFired : Rule
        {
            public override void Define()
            {
                TimerElapsed timer = default!;
                When().Match(() => timer, t => t.Name == "followup");
                Then().Do(ctx => ctx.Enqueue("http", new { url = "{{receiver.Address}}followups", body = new { conversation = timer.ConversationId, number = timer.Number } }));
            }
        }
        """;

    /// <summary>
    /// Starts <paramref name="count"/> instances on <paramref name="connectionString"/>, one after the other (the first
    /// creates the schema; the others reuse its compiled rules).
    /// </summary>
    /// <param name="settings">Environment on top of the store's; for every instance.</param>
    /// <param name="moreRules">Rule classes beside <see cref="Rules"/>.</param>
    public static async Task<PostgresInstances> StartAsync(
        string root, string connectionString, HttpReceiver receiver, int count, IReadOnlyDictionary<string, string>? settings = null, string moreRules = "")
    {
        var instances = new PostgresInstances(root, connectionString, receiver, settings ?? new Dictionary<string, string>(), Rules(receiver) + moreRules);
        try
        {
            for (var i = 0; i < count; i++)
            {
                await instances.StartOneAsync();
            }
        }
        catch
        {
            await instances.DisposeAsync();
            throw;
        }

        return instances;
    }

    /// <summary>Starts one more instance (in a new folder), on <paramref name="connectionString"/> when given (a proxy's port), else the database's.</summary>
    /// <param name="program">Another build's <c>freescout-rules.dll</c> (<see cref="PreviousRelease"/>); this build's unless given.</param>
    public async Task<ServeProcess> StartOneAsync(string? connectionString = null, IReadOnlyDictionary<string, string>? settings = null, string? program = null)
    {
        var index = _started++;
        var folder = Path.Combine(_root, index.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(Path.Combine(folder, "rules"));
        await File.WriteAllTextAsync(Path.Combine(folder, "rules", "multi.csx"), _rules);
        var cache = Path.Combine(_root, "0", "data", "rules-cache");
        if (index > 0 && Directory.Exists(cache))
        {
            // The same rule files compile to the same assemblies: the first instance's cache saves the others the compile.
            CopyDirectory(cache, Path.Combine(folder, "data", "rules-cache"));
        }

        var environment = new Dictionary<string, string>
        {
            ["Storage__Provider"] = "postgres",
            ["ConnectionStrings__Postgres"] = connectionString ?? ConnectionString,
            ["Actions__PollInterval"] = "00:00:00.100",
        };
        foreach (var (key, value) in _settings.Concat(settings ?? new Dictionary<string, string>()))
        {
            environment[key] = value;
        }

        var server = await ServeProcess.StartAsync(folder, environment, program: program);
        _all.Add(server);
        return server;
    }

    /// <summary>The instance id <paramref name="server"/> joined the store with (its name is <c>host:pid</c>).</summary>
    public async Task<long> InstanceIdAsync(ServeProcess server) =>
        await ScalarAsync<long>(
            $"SELECT id FROM instances WHERE name LIKE '%:' || {server.ProcessId} ORDER BY id DESC LIMIT 1");

    /// <summary>The server running as <paramref name="instanceId"/>, or <c>null</c>.</summary>
    public async Task<ServeProcess?> ServerOfAsync(long instanceId)
    {
        var name = await ScalarAsync<string>($"SELECT name FROM instances WHERE id = {instanceId}");
        return _all.FirstOrDefault(s => name.EndsWith($":{s.ProcessId}", StringComparison.Ordinal));
    }

    /// <summary>One value of a query on the database (<c>default</c> for NULL or no row).</summary>
    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is null or DBNull ? default!
            : value is T typed ? typed
            : (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), CultureInfo.InvariantCulture);
    }

    /// <summary>The rows of a query, each as its values.</summary>
    public async Task<List<object?[]>> RowsAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>
    /// Waits until the store has nothing left to do: no delivery pending, no timer pending, every intent done (then
    /// none can appear any more, the traffic being over).
    /// </summary>
    public async Task SettledAsync(TimeSpan timeout)
    {
        await Eventually.UntilAsync("every delivery done, every timer fired, every intent done", async () =>
        {
            var row = (await RowsAsync($"""
                SELECT (SELECT count(*) FROM deliveries WHERE outcome <> 'done' AND conversation_id IS NOT NULL),
                       (SELECT count(*) FROM timers WHERE state = 'pending'),
                       (SELECT count(*) FROM action_intents WHERE state <> 'done')
                """))[0];
            var (deliveries, timers, intents) = ((long)row[0]!, (long)row[1]!, (long)row[2]!);
            var stuck = intents == 0 ? "" : "; " + string.Join(", ", (await RowsAsync("""
                SELECT id, state, attempts, claim_instance, next_attempt_at FROM action_intents WHERE state <> 'done' ORDER BY id LIMIT 5
                """)).Select(r => $"intent {r[0]} {r[1]} after {r[2]} attempts, claimed by {r[3] ?? "nobody"}, next attempt {r[4] ?? "-"}"));
            return (deliveries + timers + intents == 0, $"{deliveries} deliveries not done, {timers} timers pending, {intents} intents not done{stuck}");
        }, timeout);
    }

    /// <summary>
    /// The store's invariants after any failures (issue 22): sequences gap-free per conversation (1…n, the conversation's
    /// last number n), every delivery done at its first attempt, every intent completed by exactly one attempt that
    /// succeeded, every timer fired once (one firing delivery per conversation and timer). Returns what broke, one line each.
    /// </summary>
    public async Task<List<string>> BrokenInvariantsAsync()
    {
        var broken = new List<string>();
        foreach (var row in await RowsAsync("""
            SELECT d.conversation_id, count(*), min(d.seq), max(d.seq), max(c.last_seq)
            FROM deliveries d JOIN conversations c ON c.id = d.conversation_id
            GROUP BY d.conversation_id
            HAVING count(*) <> max(d.seq) OR min(d.seq) <> 1 OR max(c.last_seq) <> max(d.seq) OR count(DISTINCT d.seq) <> count(*)
            """))
        {
            broken.Add($"conversation {row[0]}: {row[1]} deliveries, sequences {row[2]}…{row[3]}, last_seq {row[4]}");
        }

        foreach (var row in await RowsAsync("SELECT id, conversation_id, outcome, attempts FROM deliveries WHERE conversation_id IS NOT NULL AND (outcome <> 'done' OR attempts <> 1) LIMIT 20"))
        {
            broken.Add($"delivery {row[0]} of conversation {row[1]}: {row[2]} after {row[3]} attempts");
        }

        foreach (var row in await RowsAsync("""
            SELECT i.id, i.state, (SELECT count(*) FROM action_attempts a WHERE a.intent_id = i.id AND a.outcome = 'done')
            FROM action_intents i
            WHERE i.state <> 'done' OR (SELECT count(*) FROM action_attempts a WHERE a.intent_id = i.id AND a.outcome = 'done') <> 1
            LIMIT 20
            """))
        {
            broken.Add($"intent {row[0]}: {row[1]}, {row[2]} successful attempts recorded");
        }

        foreach (var row in await RowsAsync("""
            SELECT t.conversation_id, t.name, t.number, t.state,
                   (SELECT count(*) FROM deliveries d WHERE d.conversation_id = t.conversation_id AND d.event = 'timer.elapsed')
            FROM timers t
            WHERE t.state <> 'fired' OR t.fired_at IS NULL
               OR (SELECT count(*) FROM deliveries d WHERE d.conversation_id = t.conversation_id AND d.event = 'timer.elapsed') <> t.number
            LIMIT 20
            """))
        {
            broken.Add($"timer '{row[1]}' of conversation {row[0]}: scheduled {row[2]} times, {row[3]}, {row[4]} firings stored");
        }

        return broken;
    }

    /// <summary>
    /// The status changes the rules in <paramref name="rules"/> derive from <paramref name="traffic"/> (its redeliveries left
    /// out), each conversation's deliveries in order, on <c>freescout-rules test</c>'s in-memory path: what several
    /// instances must derive together, each once. As <see cref="Change"/> formats them.
    /// </summary>
    public static async Task<List<string>> ExpectedChangesAsync(string rules, IReadOnlyList<IReadOnlyList<TrafficDelivery>> traffic)
    {
        var events = Path.Combine(Path.GetTempPath(), $"fsr-traffic-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(events, traffic.SelectMany(c => c).Where(d => !d.Redelivery).Select(d => d.JsonLine()));
        try
        {
            var run = await CliProcess.RunAsync(null, "test", "--rules", rules, "--events", events, "--json");
            Assert.True(run.ExitCode == 0, run.Error);
            return [.. run.OutputLines.Select(l => JsonDocument.Parse(l).RootElement)
                .Where(l => l.GetProperty("kind").GetString() == "statusChanged")
                .Select(l => Change(l.GetProperty("conversationId").GetInt32(), l.GetProperty("from").GetString(), l.GetProperty("to").GetString()!, l.GetProperty("via").GetString()!))];
        }
        finally
        {
            File.Delete(events);
        }
    }

    /// <summary>
    /// Checks that every intent in the database reached the receiver under its own key (<c>fsr-INSTALLATION-ID</c>), that a
    /// key received more than once carried the same body each time, and returns the status changes posted to
    /// <c>/changes</c> (as <see cref="Change"/> formats them), one per key.
    /// </summary>
    public async Task<List<string>> ReceivedOncePerIntentAsync()
    {
        var intents = await RowsAsync("SELECT id FROM action_intents ORDER BY id");
        var installation = await ScalarAsync<string>("SELECT installation_id FROM installation");
        var keys = Receiver.Requests.ToArray().GroupBy(r => r.IdempotencyKey).ToDictionary(g => g.Key ?? "(none)", g => g.ToArray());
        Assert.Equal(
            intents.Select(i => $"fsr-{installation}-{(long)i[0]!}").Order(StringComparer.Ordinal),
            keys.Keys.Order(StringComparer.Ordinal));
        return [.. keys.Values.Where(k => k[0].Path == "/changes").Select(k =>
        {
            Assert.All(k, r => Assert.Equal(k[0].Body, r.Body));
            var body = JsonDocument.Parse(k[0].Body).RootElement;
            return Change(body.GetProperty("conversation").GetInt32(), body.GetProperty("from").GetString(), body.GetProperty("to").GetString()!, body.GetProperty("via").GetString()!);
        })];
    }

    /// <summary>A status change as the tests compare them.</summary>
    public static string Change(int conversation, string? from, string to, string via) => $"{conversation}: {from ?? "?"}->{to} via {via}";

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _all)
        {
            await server.DisposeAsync();
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}

/// <summary>
/// Sends traffic the way FreeScout and a load balancer do: each conversation's deliveries one after the other, each to
/// the next instance in turn (round-robin); a delivery whose answer did not come (the instance is dead, the connection
/// broke) or was 503 goes to the next instance, as FreeScout's retry through the balancer would; nothing else is accepted.
/// </summary>
internal sealed class TrafficSender(Func<IReadOnlyList<ServeProcess>> targets)
{
    private int _next;

    /// <summary>Answers 202 (stored), by instance.</summary>
    public ConcurrentDictionary<int, int> Accepted { get; } = new();

    /// <summary>Answers 200 "duplicate".</summary>
    public ConcurrentBag<TrafficDelivery> Duplicates { get; } = [];

    /// <summary>Deliveries sent again to another instance after no answer or a 503 (with why).</summary>
    public ConcurrentBag<string> Retried { get; } = [];

    /// <summary>Answers that neither FreeScout's retry nor the test expects (anything but 202, 200 and 503).</summary>
    public ConcurrentBag<string> Unexpected { get; } = [];

    public int Sent => _sent;

    private int _sent;

    /// <summary>
    /// Sends every conversation of <paramref name="traffic"/> with <paramref name="senders"/> concurrent senders (each takes
    /// the next conversation and sends its deliveries in order); <paramref name="between"/>, when given, runs after each
    /// conversation a sender finished (a pace). The task ends when all were sent.
    /// </summary>
    public Task SendAllAsync(
        IReadOnlyList<IReadOnlyList<TrafficDelivery>> traffic, int senders, CancellationToken cancellationToken, Func<CancellationToken, Task>? between = null)
    {
        var queue = new Queue<IReadOnlyList<TrafficDelivery>>(traffic);
        return Task.WhenAll(Enumerable.Range(0, senders).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                IReadOnlyList<TrafficDelivery> conversation;
                lock (queue)
                {
                    if (!queue.TryDequeue(out conversation!))
                    {
                        return;
                    }
                }

                await SendAsync(conversation, cancellationToken);
                if (between is not null)
                {
                    await between(cancellationToken);
                }
            }
        })));
    }

    /// <summary>Sends <paramref name="conversation"/>'s deliveries in order; returns when each was answered 202 or 200.</summary>
    public async Task SendAsync(IReadOnlyList<TrafficDelivery> conversation, CancellationToken cancellationToken)
    {
        foreach (var delivery in conversation)
        {
            for (var attempt = 1; ; attempt++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var all = targets();
                var index = (int)((uint)Interlocked.Increment(ref _next) % (uint)all.Count);
                var target = all[index];
                try
                {
                    using var response = await target.PostAsync(delivery.Event, delivery.Body, delivery.Signature);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        Accepted.AddOrUpdate(index, 1, (_, n) => n + 1);
                        break;
                    }

                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        Duplicates.Add(delivery);
                        break;
                    }

                    if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                    {
                        Retried.Add($"503 from instance {index}");
                        await Task.Delay(100, cancellationToken);
                        continue;
                    }

                    Unexpected.Add($"{(int)response.StatusCode} for a {delivery.Event} of conversation {delivery.ConversationId}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
                    break;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    Retried.Add($"no answer from instance {index}: {ex.GetType().Name}");
                    if (attempt > 50)
                    {
                        throw;
                    }
                }
            }

            Interlocked.Increment(ref _sent);
        }
    }
}
