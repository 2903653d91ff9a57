using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>The real <c>freescout-rules replay</c> process on a database a server wrote.</summary>
public sealed class ReplayCommandTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-replay-{Guid.NewGuid():N}");

    private string DataDirectory => Path.Combine(_root, "data");

    private string RulesDirectory => Path.Combine(_root, "rules");

    public async Task InitializeAsync()
    {
        await using var server = await TestServerHost.StartAsync(root: _root);
        server.DeleteRootOnDispose = false;
        foreach (var name in new[] { "convo.created", "convo.agent.reply.created", "convo.status.closed.on-reply", "convo.agent.reply.created.closed", "convo.customer.reply.created.reopened", "customer.created" })
        {
            await server.PostFixtureAsync(name);
        }

        await server.SettledDeliveriesAsync();
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Replay_SameRules_ChangesNothing()
    {
        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("5 deliveries replayed, 5 compared: 0 added, 0 gone, 0 failed", result.OutputLines[^1]);
    }

    [Fact]
    public async Task Replay_WithANewRule_ShowsTheIntentsItWouldAdd_AndWritesNothing()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(RulesDirectory, "notify.csx"));
        var databaseBefore = File.GetLastWriteTimeUtc(Path.Combine(DataDirectory, "freescout-rules.db"));

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory, "--conversation", "1187", "--json");

        Assert.Equal(0, result.ExitCode);
        var difference = JsonDocument.Parse(Assert.Single(result.OutputLines)).RootElement;
        Assert.Equal("action", difference.GetProperty("kind").GetString());
        Assert.Equal("added", difference.GetProperty("change").GetString());
        Assert.Equal("convo.status", difference.GetProperty("event").GetString());
        Assert.StartsWith("action http {\"url\":\"https://hooks.example.com/support\"", difference.GetProperty("what").GetString(), StringComparison.Ordinal);
        Assert.Equal(databaseBefore, File.GetLastWriteTimeUtc(Path.Combine(DataDirectory, "freescout-rules.db")));
    }

    [Fact]
    public async Task Replay_WithStatusRulesThatDeriveNothing_ShowsTheChangesThatWouldBeGone()
    {
        // Deliberately replaced status rules that only record the known state (FSR0006 says so).
        var builtIn = File.ReadAllText(Path.Combine(RulesDirectory, "status-change.csx"));
        File.WriteAllText(Path.Combine(RulesDirectory, "status-change.csx"), builtIn[builtIn.IndexOf("/// 4.", StringComparison.Ordinal)..]);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(RulesDirectory, "notify.csx"));

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory);

        Assert.Contains(result.OutputLines, l => l.EndsWith("- status pending -> closed via convo.status", StringComparison.Ordinal));
        Assert.Contains("3 gone", result.OutputLines[^1], StringComparison.Ordinal);
        Assert.Contains("warning FSR0006", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_StoredDelivery_RunsItsConversationFirst()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(RulesDirectory, "notify.csx"));

        var close = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "explain", "--rules", RulesDirectory, "--data-dir", DataDirectory, "--delivery", "3");
        var neither = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "explain", "--rules", RulesDirectory);
        var unknown = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "explain", "--rules", RulesDirectory, "--data-dir", DataDirectory, "--delivery", "6");

        Assert.Equal(0, close.ExitCode);
        Assert.StartsWith("delivery 3: convo.status #1187", close.OutputLines[0], StringComparison.Ordinal);
        Assert.Contains("fired      notify-support-on-close  (notify.csx)", close.OutputLines);
        Assert.Contains("fired      status.changed-from-known-state  (status-change.csx)", close.OutputLines);
        Assert.NotEqual(0, neither.ExitCode);
        Assert.Contains("Give either --events FILE --line N, or --delivery ID (with the server's --data-dir, or its Storage:Provider=postgres settings).", neither.Error, StringComparison.Ordinal);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no such conversation delivery", unknown.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_TimeRange_ReplaysEverythingButComparesOnlyTheRange()
    {
        var future = DateTimeOffset.UtcNow.AddDays(1).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        var past = DateTimeOffset.UtcNow.AddDays(-1).ToString("O", System.Globalization.CultureInfo.InvariantCulture);

        var none = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory, "--since", future);
        var all = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory, "--since", past, "--until", future);

        Assert.Equal("5 deliveries replayed, 0 compared: 0 added, 0 gone, 0 failed", none.OutputLines[^1]);
        Assert.Equal("5 deliveries replayed, 5 compared: 0 added, 0 gone, 0 failed", all.OutputLines[^1]);
    }

    [Fact]
    public async Task Replay_WithoutADatabase_IsAClearError()
    {
        var nope = Path.Combine(_root, "nope");
        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "replay", "--data-dir", nope, "--rules", RulesDirectory);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no database here", result.Error, StringComparison.Ordinal);

        // Every verb that reads or writes a server's database says the same, and none creates an empty one.
        string[][] others =
        [
            ["explain", "--data-dir", nope, "--rules", RulesDirectory, "--delivery", "1"],
            ["actions", "list", "--data-dir", nope],
        ];
        foreach (var verb in others)
        {
            var other = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, verb);
            Assert.Equal((2, true), (other.ExitCode, other.Error.Contains("no database here", StringComparison.Ordinal)));
        }

        Assert.False(Directory.Exists(nope) && Directory.EnumerateFileSystemEntries(nope).Any());
    }

    [Fact]
    public async Task ActionsList_WithNothingToList_SaysSo()
    {
        var none = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "actions", "list", "--data-dir", DataDirectory, "--state", "dead");

        Assert.Equal((0, "No action intents in state dead."), (none.ExitCode, Assert.Single(none.OutputLines)));
    }

    [Fact]
    public async Task EveryVerb_OnADatabaseOfAnotherSchemaVersion_SaysWhatToDo_AndChangesNothing()
    {
        var path = Path.Combine(DataDirectory, "freescout-rules.db");
        await SetSchemaVersionAsync(path, FreeScoutRules.Engine.Storage.Sqlite.Migrations.LatestVersion - 1);
        string[][] verbs =
        [
            ["replay", "--data-dir", DataDirectory, "--rules", RulesDirectory],
            ["explain", "--data-dir", DataDirectory, "--rules", RulesDirectory, "--delivery", "1"],
            ["actions", "list", "--data-dir", DataDirectory],
        ];
        foreach (var verb in verbs)
        {
            var older = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, verb);
            Assert.Equal(2, older.ExitCode);
            Assert.Contains($"the database is at schema version {FreeScoutRules.Engine.Storage.Sqlite.Migrations.LatestVersion - 1}", older.Error, StringComparison.Ordinal);
            Assert.Contains("start `serve` once on it to upgrade it", older.Error, StringComparison.Ordinal);
        }

        await SetSchemaVersionAsync(path, FreeScoutRules.Engine.Storage.Sqlite.Migrations.LatestVersion + 1);
        var newer = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, verbs[0]);
        Assert.Equal(2, newer.ExitCode);
        Assert.Contains("newer than this freescout-rules knows", newer.Error, StringComparison.Ordinal);
    }

    private static async Task SetSchemaVersionAsync(string path, int version)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA user_version = {version};";
        await command.ExecuteNonQueryAsync();
    }
}
