using System.Net;
using System.Net.Sockets;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// A TCP proxy on loopback between one process and a server (PostgreSQL), that a test can cut off as a network
/// partition does: <see cref="Pause"/> stops forwarding in both directions without closing anything (bytes read are
/// held, new connections are accepted and left waiting, a side's close is not passed on), so both ends see silence and
/// nothing else, as when packets are dropped; <see cref="Resume"/> forwards what was held and goes on (TCP would
/// deliver it after the partition heals). Thread-safe.
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _sockets = [];
    private readonly Lock _gate = new();
    private TaskCompletionSource _open = Open();
    private Task _accepting = Task.CompletedTask;
    private long _connections;

    private TcpProxy(IPEndPoint upstream)
    {
        _upstream = upstream;
    }

    /// <summary>The port it listens on (127.0.0.1).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections accepted so far.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Whether it forwards nothing now.</summary>
    public bool Paused
    {
        get
        {
            lock (_gate)
            {
                return !_open.Task.IsCompleted;
            }
        }
    }

    /// <summary>Starts forwarding connections to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static TcpProxy Start(string host, int port)
    {
        var proxy = new TcpProxy(new IPEndPoint(IPAddress.Parse(host), port));
        proxy._listener.Start();
        proxy._accepting = proxy.AcceptAsync();
        return proxy;
    }

    /// <summary>Stops forwarding in both directions; every socket stays open.</summary>
    public void Pause()
    {
        lock (_gate)
        {
            if (_open.Task.IsCompleted)
            {
                _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Forwards again, what was held first.</summary>
    public void Resume()
    {
        lock (_gate)
        {
            _open.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Resume();
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        lock (_gate)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }

        _stop.Dispose();
    }

    private static TaskCompletionSource Open()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    /// <summary>Completes when forwarding is on.</summary>
    private Task Forwarding()
    {
        lock (_gate)
        {
            return _open.Task;
        }
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                Track(client);
                _ = ConnectAsync(client);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task ConnectAsync(TcpClient client)
    {
        try
        {
            await Forwarding().WaitAsync(_stop.Token); // a connection made during a partition waits, as its SYN would
            var server = new TcpClient();
            Track(server);
            await server.ConnectAsync(_upstream, _stop.Token);
            client.NoDelay = server.NoDelay = true;
            await Task.WhenAll(PumpAsync(client, server), PumpAsync(server, client));
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            client.Dispose();
        }
    }

    /// <summary>Copies from one side to the other while forwarding is on; a close is passed on (as a close) only then too.</summary>
    private async Task PumpAsync(TcpClient from, TcpClient to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            while (true)
            {
                var read = await source.ReadAsync(buffer, _stop.Token);
                await Forwarding().WaitAsync(_stop.Token);
                if (read == 0)
                {
                    break;
                }

                await target.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            try
            {
                await Forwarding().WaitAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        from.Dispose();
        to.Dispose();
    }

    private void Track(TcpClient socket)
    {
        lock (_gate)
        {
            _sockets.Add(socket);
        }
    }
}
