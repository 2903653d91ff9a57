using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Tests.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>
/// Issue 22: no statement the PostgreSQL store runs per delivery, per intent or per timer walks the history, as
/// <c>StatementPlanTests</c> checks for SQLite. The same end-to-end run (<see cref="RecordedRun"/>, every storage port
/// method called as the engine calls it) runs on a database of 1,000,000 deliveries with a help desk's skew
/// (<see cref="LargePostgresDatabaseFixture"/>, analyzed as autovacuum would), and PostgreSQL itself reports every
/// statement it executed with the plan it executed (<c>auto_explain</c>, loaded per session through the connection
/// string, its plans read back from the server's JSON log): no list kept by hand, no statement planned apart from the
/// run that executes it, the parameters' real values. Twice, each on its own copy of the database: with the default plan
/// cache (custom plans; a statement Npgsql prepared and ran more than five times may switch to its generic plan) and with
/// <c>plan_cache_mode = force_generic_plan</c> (the plan any prepared statement may settle on, whatever its values).
/// Each plan is judged by <see cref="PostgresPlanCheck"/>.
/// </summary>
public sealed class PostgresStatementPlanTests(LargePostgresDatabaseFixture database, ITestOutputHelper output) : IClassFixture<LargePostgresDatabaseFixture>
{
    /// <summary>
    /// The statements that may walk a large table, each with why that is acceptable: none runs per delivery, per intent or
    /// per timer. A pattern matches a statement with its whitespace made single spaces. An entry that allows nothing any
    /// more fails the test: the list stays as short as the engine lets it be.
    /// </summary>
    private static readonly (string Pattern, string Why)[] Allowed =
    [
        (@"^SELECT id, event, conversation_id, seq, received_at, outcome, attempts, last_error, processed_at, result, rules_generation FROM deliveries (?!WHERE conversation_id = )(WHERE .+ )?ORDER BY id DESC LIMIT \$\d+ OFFSET \$\d+$",
            "The console's and the admin API's delivery list, newest first, filtered by anything but a conversation (lists of a conversation are checked): "
            + "a walk of the primary key backwards that stops after a page when most rows match. Its filters combine freely and no index serves every "
            + "combination. Asked by a person."),
        (@"^SELECT COUNT\(\*\) FROM deliveries WHERE outcome = \$1$",
            "The overview's count of done deliveries (parked ones, counted for the gauges, are few: PostgreSQL reads the outcome index for them)."),
        (@"^SELECT outcome, COUNT\(\*\) FROM deliveries GROUP BY outcome$",
            "The admin API's status: every outcome's count; asked by a person or a monitor."),
        (@"^SELECT conversation_id, name, number, due_at, state, rule, delivery_id, set_at, fired_at FROM timers WHERE (TRUE|state = \$1)( AND due_at < \$\d)? ORDER BY due_at, conversation_id, name COLLATE ""C"" LIMIT \$\d$",
            "The admin API's timers in another state than pending, or in all, of every conversation: a person looking into history. No index orders "
            + "timers of every state by due time; one would cost every timer's write."),
        (@"^SELECT i\.id, i\.delivery_id, .* FROM action_intents i (WHERE i\.state = \$1 )?ORDER BY i\.id DESC LIMIT \$1$|^SELECT i\.id, i\.delivery_id, .* FROM action_intents i WHERE i\.state = \$1 ORDER BY i\.id DESC LIMIT \$2$",
            "The console's actions page and the admin API's intents, newest first, in one state: a walk of the primary key backwards that LIMIT stops after a page."),
        (@"^SELECT d\.received_at FROM delivery_bodies b JOIN deliveries d ON d\.id = b\.delivery_id ORDER BY b\.delivery_id LIMIT 1$",
            "Retention's first pass after a start: the first stored body in id order, where LIMIT 1 stops (a nested loop between them)."),
        (@"^SELECT d\.id, d\.event, b\.body, .* WHERE d\.conversation_id IS NOT NULL ORDER BY d\.conversation_id, d\.seq$",
            "replay and explain over the whole history (the command line): every conversation delivery in order, by design."),
    ];

    /// <summary><c>auto_explain</c> for the run's sessions: every statement's plan, as JSON, nested statements too.</summary>
    private const string AutoExplain =
        "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_format=json -c auto_explain.log_nested_statements=on";

    /// <summary>The statement each run ends with, whose plan in the log says the run's plans are all there.</summary>
    private const string Marker = "SELECT 'fsr-plans-end' AS marker";

    /// <summary>
    /// Retention keeps the history's 90 days of records (only the run's own old record goes) and the bodies of all but the
    /// oldest 25 or so deliveries that have one (bodies go in id order, and the run's old body has a newer id than the
    /// history's: the history's oldest ones go). The run's clock ends 2 hours after it starts.
    /// </summary>
    private RecordedRunKeep Keep() => new(
        TimeSpan.FromDays(120),
        DateTimeOffset.UtcNow.AddHours(2) - DateTimeOffset.FromUnixTimeMilliseconds(database.FirstBodyAt + (25 * LargePostgresDatabaseFixture.Spacing)));

    [Fact]
    public async Task EveryStatementARunExecutes_RunsAPlanWalkingNoLargeTable_CustomAndGeneric()
    {
        output.WriteLine($"built {LargePostgresDatabaseFixture.Deliveries:N0} deliveries in {database.BuildSeconds:F1} s");
        Assert.True(database.BuildSeconds < 60, $"building the database of {LargePostgresDatabaseFixture.Deliveries:N0} deliveries took {database.BuildSeconds:F1} s");
        var passes = new (string Name, string Options)[] { ("custom", AutoExplain), ("generic", AutoExplain + " -c plan_cache_mode=force_generic_plan") };
        var dbnames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, options) in passes)
        {
            var clock = Stopwatch.StartNew();
            var connectionString = new NpgsqlConnectionStringBuilder(database.Copies[name]) { Options = options, Pooling = true, ApplicationName = "fsr-plans" }.ConnectionString;
            var run = await RecordedRun.RecordAsync(
                hints => new RecordedStore(new PostgresStorage(connectionString, null, hints, NullLogger<PostgresStorage>.Instance)), Keep());
            var ports = RecordedRun.PortsOf(typeof(PostgresStorage));
            var uncalled = ports.SelectMany(port => port.GetMethods().Select(method => (port, method)))
                .Where(p => !run.Calls.ContainsKey(p.method)).Select(p => $"{p.port.Name}.{p.method.Name}").ToList();
            Assert.True(uncalled.Count == 0, $"The run never called {string.Join(", ", uncalled)}: call each from RecordedRun as the engine does, so that its statements are planned here.");
            Assert.Empty(RecordedRun.Ports.Except(ports)); // every port of SQLite's store (and the shared keys)
            await LargePostgresDatabaseFixture.ExecuteAsync(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString, Marker);
            dbnames[new NpgsqlConnectionStringBuilder(connectionString).Database!] = name;
            output.WriteLine($"{name} pass: the run took {clock.Elapsed.TotalSeconds:F1} s");
        }

        var logged = await ReadPlansAsync(dbnames);
        var statements = logged.Select(p => p.Sql).Where(s => s != Marker).ToHashSet(StringComparer.Ordinal);
        var strange = statements.Where(s => !Regex.IsMatch(s, @"^\(*\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", RegexOptions.IgnoreCase)).ToList();
        Assert.True(strange.Count == 0, $"Statements of no known kind (judge them here): {string.Join("\n", strange)}");
        Assert.Contains(statements, s => s.Contains("INSERT INTO deliveries", StringComparison.Ordinal)); // the log holds the store's writes
        foreach (var pass in passes)
        {
            Assert.Contains(logged, p => p.Pass == pass.Name && p.Sql != Marker);
        }

        var check = new PostgresPlanCheck(database);
        var report = new StringBuilder();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var failures = 0;
        var judged = 0;
        foreach (var plan in logged.Where(p => p.Sql != Marker).DistinctBy(p => (p.Pass, p.Sql, PostgresPlanCheck.Render(p.Plan))).OrderBy(p => p.Sql, StringComparer.Ordinal).ThenBy(p => p.Pass, StringComparer.Ordinal))
        {
            judged++;
            var problems = check.Problems(plan.Plan);
            var allowed = Allowed.Where(a => Regex.IsMatch(Normal(plan.Sql), a.Pattern)).Select(a => a.Pattern).FirstOrDefault();
            if (problems.Count > 0 && allowed is null)
            {
                failures++;
                report.AppendLine(Describe(plan, problems));
            }
            else if (problems.Count > 0)
            {
                used.Add(allowed!);
            }
        }

        output.WriteLine($"{statements.Count} statements, {judged} distinct plans judged");
        Assert.True(
            failures == 0,
            $"{failures} plans walk a large table of {LargePostgresDatabaseFixture.Deliveries:N0} deliveries. Give the statement an index that bounds it (a new "
            + "migration that only adds: PostgresMigrations), or write it so that an index bounds it; if it never runs per delivery, per intent or per "
            + $"timer, add it to Allowed with why:\n\n{report}");
        var unused = Allowed.Select(a => a.Pattern).Where(p => !used.Contains(p)).ToList();
        Assert.True(unused.Count == 0, $"Allowed walks that no statement makes any more (remove them from the list):\n{string.Join("\n", unused)}");
    }

    [Fact]
    public async Task TheCheck_FindsAWalk_AWideLookup_AndPassesALookupByConversation()
    {
        var check = new PostgresPlanCheck(database);

        var walk = check.Problems(await ExplainAsync("SELECT id FROM deliveries WHERE body_sha256 = $1", "SET plan_cache_mode = force_generic_plan"));
        var wide = check.Problems(await ExplainAsync("SELECT id FROM deliveries WHERE event = $1 AND rule_failures = 0", "SET enable_seqscan = off; SET enable_bitmapscan = off"));
        var narrow = check.Problems(await ExplainAsync("SELECT id FROM deliveries WHERE conversation_id = $1 AND event = $2 AND body_sha256 = $3", null));

        Assert.StartsWith("walks all of deliveries: ", Assert.Single(walk), StringComparison.Ordinal);
        Assert.StartsWith("looks up 700,000 rows of deliveries by one value: Index Scan using ix_deliveries_event", Assert.Single(wide), StringComparison.Ordinal);
        Assert.Empty(narrow);
    }

    /// <summary>The generic plan of <paramref name="sql"/> (its parameters <c>NULL</c>) on the filled database, after <paramref name="settings"/>.</summary>
    private async Task<JsonObject> ExplainAsync(string sql, string? settings)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var batch = new NpgsqlCommand($"{settings}{(settings is null ? "" : ";")} SET plan_cache_mode = force_generic_plan; PREPARE judged AS {sql}", connection);
        await batch.ExecuteNonQueryAsync();
        var parameters = string.Join(", ", Enumerable.Repeat("NULL", Regex.Count(sql, @"\$\d+")));
        await using var explain = new NpgsqlCommand($"EXPLAIN (FORMAT JSON) EXECUTE judged({parameters})", connection);
        var json = (string)(await explain.ExecuteScalarAsync())!;
        return JsonNode.Parse(json)!.AsArray()[0]!["Plan"]!.AsObject();
    }

    /// <summary>A plan the server logged: the pass (by its database), the statement as prepared, its plan's root node.</summary>
    private sealed record LoggedPlan(string Pass, string Sql, JsonObject Plan);

    /// <summary>
    /// The plans <c>auto_explain</c> logged in the passes' databases, read from the server's JSON log (one JSON object a line,
    /// its <c>message</c> the plan); waits for each pass's <see cref="Marker"/> (the logging collector writes behind).
    /// </summary>
    private async Task<List<LoggedPlan>> ReadPlansAsync(IReadOnlyDictionary<string, string> dbnames)
    {
        var directory = Path.Combine(database.Cluster.Directory, "data", "log");
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var plans = new List<LoggedPlan>();
            foreach (var file in Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal))
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream);
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (!line.EndsWith('}') || JsonNode.Parse(line) is not JsonObject entry
                        || entry["dbname"]?.GetValue<string>() is not { } dbname || !dbnames.TryGetValue(dbname, out var pass)
                        || entry["message"]?.GetValue<string>() is not { } message || !message.StartsWith("duration:", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var start = message.IndexOf('{', StringComparison.Ordinal);

                    var explained = JsonNode.Parse(message[start..])!.AsObject();
                    plans.Add(new LoggedPlan(pass, explained["Query Text"]!.GetValue<string>().Trim(), explained["Plan"]!.AsObject()));
                }
            }

            if (dbnames.Values.All(pass => plans.Any(p => p.Pass == pass && p.Sql == Marker)))
            {
                return plans;
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"The server's log in {directory} holds no plan of {Marker} after 30 s: is auto_explain loaded?");
            await Task.Delay(200);
        }
    }

    private static string Describe(LoggedPlan plan, List<string> problems) =>
        $"""
        {plan.Sql}
          plan ({(plan.Pass == "generic" ? "generic: plan_cache_mode = force_generic_plan" : "as the run ran it")}):
        {PostgresPlanCheck.Render(plan.Plan, "    ")}
          {string.Join("\n  ", problems)}

        """;

    private static string Normal(string sql) => Regex.Replace(sql, @"\s+", " ").Trim();
}
