using System.Text;
using System.Text.RegularExpressions;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// Issue 20: no statement the engine runs walks the history. Every statement an end-to-end run really executes on the
/// SQLite store (<see cref="RecordedRun"/>: not a list kept by hand, so a new query cannot escape) is planned on a database
/// of 1,000,000 deliveries with a real help desk's skew (<see cref="LargeDatabaseFixture"/>), without statistics (how the
/// engine runs: it never runs <c>ANALYZE</c>) and with them (an operator may), and judged by <see cref="PlanCheck"/>. In
/// 0.7.0 the dedupe lookup of every delivery was planned on the console's event index and walked every stored delivery of
/// its event: 497 deliveries/s on an empty database, 18/s with 200,000 stored.
/// </summary>
public sealed class StatementPlanTests(LargeDatabaseFixture database) : IClassFixture<LargeDatabaseFixture>
{
    /// <summary>
    /// The statements that may walk a large table, each with why that is acceptable: none runs per delivery, per intent or
    /// per timer. A pattern matches a statement with its whitespace made single spaces. An entry that allows nothing any
    /// more fails the test: the list stays as short as the engine lets it be.
    /// </summary>
    private static readonly (string Pattern, string Why)[] Allowed =
    [
        (@"^SELECT id, event, conversation_id, seq, received_at, outcome, attempts, last_error, processed_at, result, rules_generation FROM deliveries (?!WHERE conversation_id = )(WHERE .+ )?ORDER BY id DESC LIMIT \$limit OFFSET \$offset$",
            "The console's and the admin API's delivery list, newest first, filtered by anything but a conversation (lists of a conversation are checked): "
            + "a walk in id order that stops after a page when most rows match. Its filters combine freely and no index serves every combination "
            + "(page times with 1,000,000 stored: docs/benchmarks.md section 12). Asked by a person."),
        (@"^SELECT COUNT\(\*\) FROM deliveries WHERE outcome = \$outcome$",
            "The overview's count of done deliveries: the outcome index's entries for 'done', about 40 ms a million (section 12). The parked ones, "
            + "counted for the gauges every 5 s too, are few."),
        (@"^SELECT outcome, COUNT\(\*\) FROM deliveries GROUP BY outcome$",
            "The admin API's status: every outcome's count, one walk of the outcome index; asked by a person or a monitor."),
        (@"^SELECT received_at / 60000, COUNT\(\*\) FROM deliveries WHERE received_at >= \$since GROUP BY 1 ORDER BY 1$",
            "The overview's deliveries per minute: the last hour's (a range of the receipt-time index), grouped in memory."),
        (@"^SELECT at / 3600000, COUNT\(\*\) FROM status_changes WHERE at >= \$since GROUP BY 1 ORDER BY 1$",
            "The overview's status changes per hour: the last day's (a range of their time index), grouped in memory."),
        (@"^SELECT COUNT\(\*\) FROM timers WHERE state = 'pending'$",
            "Counts the partial index of pending timers, which holds the pending ones only: the gauges every 30 s, the overview."),
        (@"^SELECT conversation_id, name, number, due_at, state, rule, delivery_id, set_at, fired_at FROM timers WHERE state = 'pending' ORDER BY due_at, conversation_id, name LIMIT \$limit$",
            "The soonest pending timers: the partial index of pending timers in due order, which LIMIT stops after the first (the timer loop asks for one)."),
        (@"^SELECT conversation_id, name, number, due_at, state, rule, delivery_id, set_at, fired_at FROM timers WHERE (1|state = \$state)( AND due_at < \$before)? ORDER BY due_at, conversation_id, name LIMIT \$limit$",
            "The admin API's timers in another state than pending, or in all, of every conversation: a person looking into history. No index orders "
            + "timers of every state by due time; one would cost every timer's write."),
        (@"^SELECT (i\.)?id, (i\.)?delivery_id, (i\.)?conversation_id, (i\.)?rule, (i\.)?action, (i\.)?arguments, (i\.)?state, .* FROM action_intents( i)? (WHERE (i\.)?state = \$state )?ORDER BY (i\.)?id DESC LIMIT \$limit$",
            "The console's actions page and the admin API's intents, newest first (in one state): a walk in id order that LIMIT stops after a page."),
        (@"^SELECT d.received_at FROM delivery_bodies b JOIN deliveries d ON d.id = b.delivery_id ORDER BY b.delivery_id LIMIT 1$",
            "Retention's first pass after a start: the first stored body in rowid order, where LIMIT 1 stops."),
        (@"^SELECT d.id, d.event, b.body, .* WHERE d.conversation_id IS NOT NULL ORDER BY d.conversation_id, d.seq$",
            "replay and explain over the whole history (the command line): every conversation delivery in order, by design."),
    ];

    [Fact]
    public async Task EveryStatementARunExecutes_IsPlannedWithoutWalkingALargeTable_WithAndWithoutStatistics()
    {
        Assert.True(database.BuildSeconds < 60, $"building the database of {LargeDatabaseFixture.Deliveries:N0} deliveries took {database.BuildSeconds:F1} s");
        var run = await RecordedRun.RecordAsync();

        var uncalled = RecordedRun.Ports.SelectMany(port => port.GetMethods().Select(method => (port, method)))
            .Where(p => !run.Calls.ContainsKey(p.method)).Select(p => $"{p.port.Name}.{p.method.Name}").ToList();
        Assert.True(uncalled.Count == 0, $"The run never called {string.Join(", ", uncalled)}: call each from RecordedRun as the engine does, so that its statements are planned here.");
        var statements = run.Statements.Keys.Where(IsData).Order(StringComparer.Ordinal).ToList();
        var strange = run.Statements.Keys.Where(s => !IsData(s) && !IsControl(s)).ToList();
        Assert.True(strange.Count == 0, $"Statements of no known kind (plan them here): {string.Join("\n", strange)}");
        Assert.Contains(statements, s => s.StartsWith("INSERT INTO deliveries", StringComparison.Ordinal)); // the observer sees the writer's statements too

        var report = new StringBuilder();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var failures = 0;
        using var connection = database.Open();
        var check = new PlanCheck(database, connection);
        foreach (var analyzed in new[] { false, true })
        {
            using var transaction = connection.BeginTransaction();
            if (analyzed)
            {
                LargeDatabaseFixture.Execute(connection, "ANALYZE", transaction); // rolled back: the other tests plan without statistics
            }

            foreach (var sql in statements)
            {
                var plan = LargeDatabaseFixture.Explain(connection, sql);
                var problems = check.Problems(sql, plan);
                var allowed = Allowed.Where(a => Regex.IsMatch(Normal(sql), a.Pattern)).Select(a => a.Pattern).FirstOrDefault();
                if (problems.Count > 0 && allowed is null)
                {
                    failures++;
                    report.AppendLine(Describe(analyzed, sql, plan, problems));
                }
                else if (problems.Count > 0)
                {
                    used.Add(allowed!);
                }
            }

            transaction.Rollback();
        }

        Assert.True(failures == 0, $"{failures} plans walk a large table of {LargeDatabaseFixture.Deliveries:N0} deliveries:\n\n{report}");

        // The writer and the kept readers keep their statements prepared from one run to the next; one that SQLite marks to
        // be prepared again whenever a parameter is bound again (a bound LIMIT, from 3.46 on) is parsed and planned for
        // every delivery: that cost 0.1 of the ingestion rate (docs/benchmarks.md section 15).
        var kept = run.KeptStatements;
        Assert.Contains(kept, s => s.StartsWith("INSERT INTO deliveries", StringComparison.Ordinal));
        Assert.Contains(kept, s => s.StartsWith("SELECT status, updated_at FROM conversations", StringComparison.Ordinal));
        var reprepared = statements.Where(kept.Contains).Where(sql => Reprepares(connection, sql)).ToList();
        Assert.True(reprepared.Count == 0, $"Prepared again each time a parameter is bound again (write the value out, or bind what the planner does not look at):\n{string.Join("\n\n", reprepared)}");
        var unused = Allowed.Select(a => a.Pattern).Where(p => !used.Contains(p)).ToList();
        Assert.True(unused.Count == 0, $"Allowed walks that no statement makes any more (remove them from the list):\n{string.Join("\n", unused)}");
    }

    [Fact]
    public void TheDedupeLookupOf070_IsPlannedOnTheEventIndex_AndTheCheckSaysSo()
    {
        const string before = "SELECT id FROM deliveries WHERE conversation_id = $conversation AND body_sha256 = $sha AND event = $event LIMIT 1";
        const string now = "SELECT id FROM deliveries WHERE conversation_id = $conversation AND body_sha256 = $sha AND +event = $event LIMIT 1";
        using var connection = database.Open();
        var check = new PlanCheck(database, connection);

        var plan = LargeDatabaseFixture.Explain(connection, before);

        Assert.Contains(plan, row => row.Detail.Contains("ix_deliveries_event (event=?)", StringComparison.Ordinal));
        var problem = Assert.Single(check.Problems(before, plan));
        Assert.StartsWith("looks up 700,000 rows of deliveries by one value", problem, StringComparison.Ordinal);
        var fixedPlan = LargeDatabaseFixture.Explain(connection, now);
        Assert.Contains(fixedPlan, row => row.Detail.Contains("ix_deliveries_conversation (conversation_id=?)", StringComparison.Ordinal));
        Assert.Empty(check.Problems(now, fixedPlan));
    }

    /// <summary>SQLITE_STMTSTATUS_REPREPARE (sqlite3.h): times the statement was prepared again.</summary>
    private const int SqliteStatementStatusReprepare = 5;

    /// <summary>Whether SQLite prepares <paramref name="sql"/> again when its parameters are bound a second time (inside a transaction rolled back).</summary>
    private static bool Reprepares(Microsoft.Data.Sqlite.SqliteConnection connection, string sql)
    {
        using var transaction = connection.BeginTransaction();
        var db = connection.Handle!;
        Assert.Equal(SQLitePCL.raw.SQLITE_OK, SQLitePCL.raw.sqlite3_prepare_v2(db, sql, out var statement));
        using (statement)
        {
            for (var round = 0; round < 2; round++)
            {
                for (var i = 1; i <= SQLitePCL.raw.sqlite3_bind_parameter_count(statement); i++)
                {
                    SQLitePCL.raw.sqlite3_bind_int64(statement, i, 1 + round);
                }

                SQLitePCL.raw.sqlite3_step(statement); // a constraint a made-up value breaks does not matter: preparing comes first
                SQLitePCL.raw.sqlite3_reset(statement);
            }

            var count = SQLitePCL.raw.sqlite3_stmt_status(statement, SqliteStatementStatusReprepare, 0);
            transaction.Rollback();
            return count > 0;
        }
    }

    private static string Describe(bool analyzed, string sql, IReadOnlyList<PlanRow> plan, List<string> problems) =>
        $"""
        {sql}
          plan {(analyzed ? "with ANALYZE" : "without statistics")}:
        {string.Join("\n", plan.Select(r => $"    {r.Detail}"))}
          {string.Join("\n  ", problems)}

        """;

    private static string Normal(string sql) => Regex.Replace(sql, @"\s+", " ").Trim();

    private static bool IsData(string sql) => Regex.IsMatch(sql, @"^(SELECT|INSERT|UPDATE|DELETE|WITH)\b", RegexOptions.IgnoreCase);

    private static bool IsControl(string sql) => Regex.IsMatch(sql, @"^(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", RegexOptions.IgnoreCase);
}
