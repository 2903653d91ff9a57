using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>
/// A throwaway PostgreSQL cluster for the tests that need one (issue 22), started by the project's own script
/// (tests/Postgres/cluster.sh: Debian's postgresql package, installed when missing, run as the postgres user when the
/// tests run as root) on a free loopback port, and removed afterwards. When it cannot start, the tests using it fail
/// with the script's message: they are never skipped. Each test takes a database of its own (<see cref="CreateDatabaseAsync"/>).
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "fsr-pg-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly bool _durable;

    public PostgresCluster()
    {
    }

    /// <param name="durable">
    /// Keep PostgreSQL's durability (fsync, synchronous commits): for a test that crashes the server (<see cref="StopServerAsync"/>)
    /// and counts on what was committed, as production does. The shared clusters run without it, for speed.
    /// </param>
    internal PostgresCluster(bool durable) => _durable = durable;

    /// <param name="durable">As above.</param>
    /// <param name="options">More server options at start (<c>PG_OPTIONS</c> of tests/Postgres/cluster.sh), e.g. <c>-c log_destination=jsonlog</c>.</param>
    internal PostgresCluster(bool durable, string options)
    {
        _durable = durable;
        _options = options;
    }

    private readonly string? _options;
    private string _connectionString = "";
    private int _databases;

    /// <summary>The cluster's directory: its data directory is <c>data</c> in it (the server's log files under <c>data/log</c> when it runs the logging collector).</summary>
    internal string Directory => _directory;

    /// <summary>The cluster's superuser connection string (database <c>postgres</c>).</summary>
    public string ConnectionString => _connectionString;

    public async Task InitializeAsync()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var (code, output, error) = await RunScriptAsync("start", _directory, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (code != 0)
        {
            throw new InvalidOperationException($"The test PostgreSQL cluster did not start (tests/Postgres/cluster.sh exited {code}):\n{error}{output}");
        }

        _connectionString = output.Trim();
    }

    /// <summary>A new, empty database on the cluster; its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"fsr_test_{Interlocked.Increment(ref _databases)}";
        await using (var connection = new NpgsqlConnection(_connectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(_connectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Stops the server at once (<c>pg_ctl stop -m immediate</c>: as a crash, or the first half of a restart), keeping its data.</summary>
    public Task StopServerAsync() => ScriptAsync("down");

    /// <summary>Starts the server stopped by <see cref="StopServerAsync"/> again, on its port.</summary>
    public Task StartServerAsync() => ScriptAsync("up");

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await RunScriptAsync("stop", _directory);
    }

    private async Task ScriptAsync(string command)
    {
        var (code, output, error) = await RunScriptAsync(command, _directory);
        if (code != 0)
        {
            throw new InvalidOperationException($"tests/Postgres/cluster.sh {command} exited {code}:\n{error}{output}");
        }
    }

    private async Task<(int Code, string Output, string Error)> RunScriptAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DURABLE"] = _durable ? "1" : "0";
        if (_options is not null)
        {
            start.Environment["PG_OPTIONS"] = _options;
        }
        start.ArgumentList.Add(Path.Combine(RepositoryRoot(), "tests", "Postgres", "cluster.sh"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5)); // an apt-get install of postgresql included
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "FreeScoutRules.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No FreeScoutRules.sln above {AppContext.BaseDirectory}.");
    }
}

/// <summary>The tests that share one <see cref="PostgresCluster"/>.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>
{
    public const string Name = "PostgreSQL";
}
