using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>
/// <c>freescout-rules storage copy</c> end to end (issue 22): the real executable copies a data directory that a server
/// wrote (a close with its status change, a timer that fired, an intent attempted and waiting for its retry) into a new
/// PostgreSQL database, which the PostgreSQL store then reads the same through its ports; and its refusals, each with its
/// exit code and a message that names what to do (never the password).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class StorageCopyCommandTests(PostgresCluster cluster, ServedDataDirectory served) : IClassFixture<ServedDataDirectory>, IDisposable
{
    private readonly string _from = served.CopyTo(Path.Combine(Path.GetTempPath(), $"fsr-copy-{Guid.NewGuid():N}"));

    public void Dispose() => Directory.Delete(_from, recursive: true);

    [Fact]
    public async Task Copy_MovesTheServersData_ThePostgresStoreReadsTheSame_AndASecondCopyIsRefused()
    {
        var target = await cluster.CreateDatabaseAsync();
        var where = Where(target);

        // The connection string from the environment, as docs/deploy.md suggests (not on the command line).
        var result = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string> { ["ConnectionStrings__Postgres"] = target }, null, "storage", "copy", "--from", _from);

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Equal($"Copying {Path.Combine(_from, "freescout-rules.db")} into {where} (one transaction: all or nothing).", result.OutputLines[0]);
        foreach (var table in StoreCopyMap.Tables)
        {
            Assert.Contains(result.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^{table.Name} +[0-9,]+ rows? +[0-9]+\.[0-9] s$"));
        }

        Assert.Contains(result.OutputLines, l => l.StartsWith("Counts verified, the same in the source and the target: installation 1, ", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith("Not copied: instances (", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.Contains("Storage:Provider=postgres and ConnectionStrings:Postgres", StringComparison.Ordinal));
        Assert.DoesNotContain(new NpgsqlConnectionStringBuilder(target).Password!, result.Output + result.Error, StringComparison.Ordinal);

        var sqlite = new SqliteStorage(new SqliteOptions { DataDirectory = _from }, NullLogger<InboxWriter>.Instance, readOnly: true);
        await sqlite.InitializeAsync(default);
        await using var postgres = new PostgresStorage(target, TimeProvider.System, null, NullLogger<PostgresStorage>.Instance);
        await postgres.InitializeAsync(default);

        Assert.Equal(sqlite.InstallationId, postgres.InstallationId);
        Assert.Contains(result.OutputLines, l => l.Contains($"Installation id {sqlite.InstallationId}, as before", StringComparison.Ordinal));
        var history = Describe(await sqlite.LoadHistoryAsync(null, default));
        Assert.Contains(history, d => d.Contains(" timer.elapsed ", StringComparison.Ordinal));
        Assert.Equal(history, Describe(await postgres.LoadHistoryAsync(null, default)));
        var intents = (await sqlite.ListAsync(null, null, 100, default)).Select(Describe).ToList();
        Assert.Contains(intents, i => i.Contains(" survey-mailer ", StringComparison.Ordinal) && i.Contains($" fsr-{sqlite.InstallationId}-", StringComparison.Ordinal));
        Assert.Equal(intents, (await postgres.ListAsync(null, null, 100, default)).Select(Describe));
        Assert.Equal(await sqlite.ListAsync(new TimerFilter(State: null), default), await postgres.ListAsync(new TimerFilter(State: null), default));
        Assert.Equal(await sqlite.ListGenerationsAsync(10, default), await postgres.ListGenerationsAsync(10, default));
        Assert.Equal(await sqlite.CountByOutcomeAsync(default), await postgres.CountByOutcomeAsync(default));

        var again = await CliProcess.RunAsync(null, "storage", "copy", "--from", _from, "--to", target);

        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"{where} is not empty (", again.Error, StringComparison.Ordinal);
        Assert.Equal(history, Describe(await postgres.LoadHistoryAsync(null, default)));
    }

    [Fact]
    public async Task Copy_OfADataDirectoryAServerHolds_IsRefused_NamingIt_AndTouchesNothing()
    {
        var target = await cluster.CreateDatabaseAsync();
        var result = await WhileHeldAsync(() => CliProcess.RunAsync(null, "storage", "copy", "--from", _from, "--to", target));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"The data directory {_from} is in use by a running freescout-rules process (PID {Environment.ProcessId}): stop it first.", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Output);
        Assert.Equal(0L, await TablesAsync(target)); // not even migrated
    }

    [Fact]
    public async Task Copy_OfADatabaseOfAnOlderSchema_IsRefused_SayingToStartServeOnce()
    {
        var older = FreeScoutRules.Engine.Storage.Sqlite.Migrations.LatestVersion - 1;
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(_from, "freescout-rules.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = new SqliteCommand($"PRAGMA user_version = {older}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var result = await CliProcess.RunAsync(null, "storage", "copy", "--from", _from, "--to", await cluster.CreateDatabaseAsync());

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"is at schema version {older}, this freescout-rules reads version {older + 1}; start `serve` once on it to upgrade it", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Copy_IntoAnUnreachableDatabase_NamesHostPortAndDatabase_NeverThePassword()
    {
        var port = FreePort();
        var result = await CliProcess.RunAsync(
            null, "storage", "copy", "--from", _from, "--to", $"Host=127.0.0.1;Port={port};Database=rules;Username=fsr;Password=never-printed-7f3a;Timeout=5");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"PostgreSQL 127.0.0.1:{port}/rules: ", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("never-printed", result.Output + result.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_from, DataDirectoryLockFile)) && !File.Exists(Path.Combine(_from, "freescout-rules.pid"))); // the lock given back
    }

    [Fact]
    public async Task Copy_WithoutATarget_WithAMalformedOne_OrFromNoDatabase_SaysWhatToGive()
    {
        var noTarget = await CliProcess.RunAsync(null, "storage", "copy", "--from", _from);
        var noSource = await CliProcess.RunAsync(null, "storage", "copy", "--from", Path.Combine(_from, "nothing-here"), "--to", "Host=127.0.0.1;Database=rules");
        var malformed = await CliProcess.RunAsync(null, "storage", "copy", "--from", _from, "--to", "Host=db;Password=never-printed-7f3a;Prot=5432");
        var help = await CliProcess.RunAsync(null, "storage", "copy", "--help");

        Assert.Equal(1, noTarget.ExitCode);
        Assert.Equal(
            "No target: give --to CONNECTION_STRING, or set ConnectionStrings:Postgres (environment ConnectionStrings__Postgres, or the --config file).",
            Assert.Single(noTarget.ErrorLines));
        Assert.Equal(2, noSource.ExitCode);
        Assert.Equal($"{Path.Combine(_from, "nothing-here", "freescout-rules.db")}: no database here (give the server's --data-dir).", Assert.Single(noSource.ErrorLines));
        Assert.False(Directory.Exists(Path.Combine(_from, "nothing-here")));
        Assert.Equal(1, malformed.ExitCode);
        Assert.StartsWith("The target is not a PostgreSQL connection string (Host=…;Port=5432;Database=…;Username=…;Password=…): ", Assert.Single(malformed.ErrorLines), StringComparison.Ordinal);
        Assert.DoesNotContain("never-printed", malformed.Error, StringComparison.Ordinal);
        Assert.Contains("visible to the machine's other users", help.Output, StringComparison.Ordinal);
    }

    private const string DataDirectoryLockFile = "freescout-rules.lock";

    /// <summary>Runs <paramref name="run"/> while this process holds the data directory's lock, as a running server does.</summary>
    private async Task<CliProcess.Result> WhileHeldAsync(Func<Task<CliProcess.Result>> run)
    {
        var sqlite = new SqliteStorage(new SqliteOptions { DataDirectory = _from, Durable = false }, NullLogger<InboxWriter>.Instance);
        await sqlite.InitializeAsync(default); // takes the lock, as serve does
        var writer = sqlite.RunAsync(default);
        try
        {
            return await run();
        }
        finally
        {
            sqlite.Complete();
            await writer;
        }
    }

    private static string Where(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
    }

    private static async Task<long> TablesAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static List<string> Describe(IReadOnlyList<StoredDelivery> history) =>
        [.. history.Select(d => $"{d.Id} {d.Event} {d.ConversationId}#{d.Sequence} {d.Outcome} {d.Attempts} {d.ReceivedAt:O} {Convert.ToHexString(d.Body ?? [])} {d.Result?.ToJson()}")];

    private static string Describe(IntentRecord i) =>
        $"{i.Id} {i.DeliveryId} {i.ConversationId} {i.Rule} {i.Action} {i.Arguments} {i.State} {i.Attempts} {i.CreatedAt:O} {i.NextAttemptAt:O} {i.CompletedAt:O} "
        + $"{i.LastError} {i.Destination} {i.IdempotencyKey} [{string.Join("; ", i.AttemptLog)}]";
}

/// <summary>
/// A data directory a server wrote, once for the class: a close (its status change and survey timer), the timer fired 31
/// minutes later on the server's clock, and its intent attempted (no plugin provides it: it waits for its retry).
/// Each test works on a copy of it.
/// </summary>
public sealed class ServedDataDirectory : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-served-{Guid.NewGuid():N}");

    private string DataDirectory => Path.Combine(_root, "data");

    public async Task InitializeAsync()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
        await using var server = await TestServerHost.StartAsync(extraRules: new Dictionary<string, string> { ["survey.csx"] = TimerRules.Survey }, root: _root, time: time);
        server.DeleteRootOnDispose = false;
        await server.PostFixtureAsync("convo.status.closed");
        await server.PostFixtureAsync("convo.note.created");
        await server.SettledDeliveriesAsync();
        time.Advance(TimeSpan.FromMinutes(31));
        await Eventually.UntilAsync("the survey timer fired and its intent was attempted", async () =>
        {
            time.Advance(TimeSpan.FromSeconds(1)); // the action runner polls on the server's clock
            var actions = await server.Admin.GetFromJsonAsync<JsonElement>("/api/actions?state=pending");
            var attempted = actions.EnumerateArray().Any(a => a.GetProperty("attempts").GetInt32() > 0);
            return (attempted, actions.ToString());
        });
    }

    /// <summary>A copy of the data directory's database in <paramref name="directory"/> (a new one); returns it.</summary>
    public string CopyTo(string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.EnumerateFiles(DataDirectory, "freescout-rules.db*"))
        {
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        }

        return directory;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }
}
