using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>The real <c>freescout-rules serve</c> process on a free loopback port, with its own data and rules folders.</summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    /// <summary>The console key every server started here gets (<c>FREESCOUTRULES_CONSOLE_KEY</c>), unless the test gives another.</summary>
    public const string ConsoleKey = "console-key-for-tests-0123456789abcdefXYZ";

    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private ServeProcess(Process process)
    {
        _process = process;
        Client = new HttpClient();
        Admin = new HttpClient();
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestServerHost.AdminToken);
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public HttpClient Client { get; }

    /// <summary>The server's process id.</summary>
    public int ProcessId => _process.Id;

    public HttpClient Admin { get; }

    /// <summary>The process's resident memory now, in bytes (its working set: what it holds in RAM, GC heap and native).</summary>
    public long WorkingSetBytes
    {
        get
        {
            _process.Refresh();
            return _process.WorkingSet64;
        }
    }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts <c>serve</c> on <paramref name="root"/>/data with <paramref name="root"/>/rules and waits until <c>/readyz</c> says ready.</summary>
    /// <param name="root">The server's folder, and its working directory.</param>
    /// <param name="environment">Variables on top of the secret and the admin token.</param>
    /// <param name="rulesArgument">What <c>--rules</c> says: the absolute rules folder unless given (a relative path is relative to <paramref name="root"/>).</param>
    /// <param name="umask">When given (e.g. <c>022</c>), serve runs under a shell that sets this umask first.</param>
    /// <param name="program">Another build's <c>freescout-rules.dll</c> (<see cref="PreviousRelease"/>); this build's unless given.</param>
    public static async Task<ServeProcess> StartAsync(
        string root, IReadOnlyDictionary<string, string>? environment = null, string? rulesArgument = null, string? umask = null, string? program = null)
    {
        var rules = Path.Combine(root, "rules");
        Directory.CreateDirectory(rules);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules", "status-change.csx"), Path.Combine(rules, "status-change.csx"), overwrite: true);
        var settings = new Dictionary<string, string>
        {
            ["FREESCOUTRULES_WEBHOOK_SECRET"] = SignedDeliveries.Secret,
            ["FREESCOUTRULES_ADMIN_TOKEN"] = TestServerHost.AdminToken,
            // Unused on SQLite; on PostgreSQL the instances share the console's keys, encrypted with it (required there).
            ["FREESCOUTRULES_CONSOLE_KEY"] = ConsoleKey,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        return await LaunchAsync(
            root, settings, umask, program,
            ["--data-dir", Path.Combine(root, "data"), "--rules", rulesArgument ?? rules, "--plugins", Path.Combine(root, "plugins")]);
    }

    /// <summary>
    /// Starts <c>serve</c> in <paramref name="workingDirectory"/> with only <paramref name="arguments"/> (and
    /// <c>--urls http://127.0.0.1:0</c>) and <paramref name="environment"/>, no FREESCOUTRULES_* variable of this
    /// process: as a user types it there. Waits until <c>/readyz</c> says ready.
    /// </summary>
    public static Task<ServeProcess> StartWithAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        LaunchAsync(workingDirectory, environment, null, null, arguments);

    /// <summary>As <see cref="StartWithAsync"/>, under <paramref name="umask"/> when given.</summary>
    private static async Task<ServeProcess> LaunchAsync(
        string workingDirectory, IReadOnlyDictionary<string, string> environment, string? umask, string? program, string[] arguments)
    {
        // Port 0: the system gives serve a free port as it binds, read back from its "Now listening on" line
        // (a port chosen beforehand could be taken by another test's server in between, and answer for it).
        var start = new ProcessStartInfo(umask is null ? "dotnet" : "/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        if (umask is not null)
        {
            foreach (var argument in new[] { "-c", $"umask {umask} && exec dotnet \"$@\"", "sh" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var variable in start.Environment.Keys.Where(k => k.StartsWith("FREESCOUTRULES_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(variable);
        }

        foreach (var argument in new[] { program ?? Path.Combine(AppContext.BaseDirectory, "freescout-rules.dll"), "serve", "--urls", "http://127.0.0.1:0" }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var server = new ServeProcess(Process.Start(start)!);
        try
        {
            Uri? address = null;
            await Eventually.UntilAsync("serve to log the address it listens on", () =>
            {
                if (server._process.HasExited)
                {
                    throw new InvalidOperationException($"serve exited with {server._process.ExitCode}:\n{server.Log}");
                }

                var listening = System.Text.RegularExpressions.Regex.Match(server.Log, @"Now listening on: (http://127\.0\.0\.1:\d+)");
                address = listening.Success ? new Uri(listening.Groups[1].Value) : null;
                return Task.FromResult((address is not null, "no \"Now listening on\" line yet"));
            }, TimeSpan.FromSeconds(60));
            server.Client.BaseAddress = address;
            server.Admin.BaseAddress = address;
            await Eventually.UntilAsync($"serve on {address} to answer /readyz with 200", async () =>
            {
                if (server._process.HasExited)
                {
                    throw new InvalidOperationException($"serve exited with {server._process.ExitCode}:\n{server.Log}");
                }

                try
                {
                    using var response = await server.Client.GetAsync("/readyz");
                    return response.StatusCode == HttpStatusCode.OK
                        ? (true, "")
                        : (false, $"last answer {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
                catch (HttpRequestException e)
                {
                    return (false, $"last attempt failed: {e.Message}");
                }
            }, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException e)
        {
            await server.DisposeAsync();
            throw new TimeoutException($"{e.Message}\nserve's last output:\n{server.RecentLog(40)}", e);
        }

        return server;
    }

    /// <summary>SIGTERM, as systemd stops a service: the server shuts down gracefully. Returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGSTOP: the process stops where it is (its sockets stay open, its threads do nothing) until <see cref="Continue"/>.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT: a paused process goes on from where it stopped.</summary>
    public void Continue() => Signal("CONT");

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {_process.Id} exited with {kill.ExitCode}");
        }
    }

    public Task<HttpResponseMessage> PostAsync(string eventName, byte[] body, string? signature)
    {
        var request = SignedDeliveries.Request(eventName, body, signature);
        request.RequestUri = new Uri(Client.BaseAddress!, request.RequestUri!);
        return Client.SendAsync(request);
    }

    /// <summary>All deliveries through the admin API once none is pending; throws naming those still pending.</summary>
    public async Task<JsonElement[]> SettledDeliveriesAsync(TimeSpan timeout)
    {
        JsonElement[] all = [];
        await Eventually.UntilAsync("no delivery pending", async () =>
        {
            var items = new List<JsonElement>();
            for (var page = 1; ; page++)
            {
                var json = await Admin.GetFromJsonAsync<JsonElement>($"/api/deliveries?pageSize=500&page={page}");
                var batch = json.GetProperty("items").EnumerateArray().ToArray();
                items.AddRange(batch);
                if (batch.Length < 500)
                {
                    break;
                }
            }

            all = [.. items];
            var pending = items.Where(i => i.GetProperty("outcome").GetString() == "pending").Select(i => i.GetProperty("id").GetInt64()).ToList();
            return (pending.Count == 0,
                $"{pending.Count} of {items.Count} still pending: deliveries {string.Join(", ", pending.Take(20))}{(pending.Count > 20 ? ", ..." : "")}");
        }, timeout);
        return all;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Client.Dispose();
        Admin.Dispose();
    }

    /// <summary>The last <paramref name="lines"/> lines the process wrote, for a failure message.</summary>
    private string RecentLog(int lines)
    {
        var all = Log.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines - 1)));
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }
}
