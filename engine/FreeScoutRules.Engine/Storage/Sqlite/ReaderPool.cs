using System.Collections.Concurrent;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Read connections kept open with their prepared statements (<see cref="PreparedStatements"/>), for the reads every
/// delivery or timer firing makes (its conversation's known state, its snapshot, its pending deliveries). A connection
/// opened for each read and its statements prepared again cost more than the reads themselves: opening runs the
/// connection's settings (three statements to parse), and each statement is parsed and planned anew
/// (docs/benchmarks.md §15). At most <see cref="Kept"/> stay open between reads; more readers at once open more, and
/// those close after their read. WAL: a kept connection outside a read holds no snapshot, and blocks neither the writer
/// nor a checkpoint. Thread-safe.
/// </summary>
internal sealed class ReaderPool(SqliteDatabase database)
{
    /// <summary>Connections kept open between reads.</summary>
    public const int Kept = 16;

    private readonly ConcurrentQueue<PreparedStatements> _idle = new();
    private int _idleCount;
    private volatile bool _closed;

    /// <summary>Connections open and waiting for a read now.</summary>
    public int Idle => Volatile.Read(ref _idleCount);

    /// <summary>A kept connection, or a new one; give it back by disposing the lease once the read's readers are disposed.</summary>
    public async ValueTask<Lease> RentAsync(CancellationToken cancellationToken)
    {
        if (_idle.TryDequeue(out var kept))
        {
            Interlocked.Decrement(ref _idleCount);
            return new Lease(this, kept);
        }

        return new Lease(this, new PreparedStatements(await database.OpenKeptAsync(cancellationToken)));
    }

    /// <summary>Closes the kept connections; reads from then on close theirs after use (the store is stopping).</summary>
    public void Close()
    {
        _closed = true;
        while (_idle.TryDequeue(out var kept))
        {
            Interlocked.Decrement(ref _idleCount);
            kept.Dispose();
        }
    }

    private void Return(PreparedStatements statements)
    {
        if (!_closed && statements.Connection.State == System.Data.ConnectionState.Open)
        {
            if (Interlocked.Increment(ref _idleCount) <= Kept)
            {
                _idle.Enqueue(statements);
                if (_closed)
                {
                    Close(); // closed while this one was coming back
                }

                return;
            }

            Interlocked.Decrement(ref _idleCount);
        }

        statements.Dispose();
    }

    /// <summary>One read's use of a connection.</summary>
    internal readonly struct Lease(ReaderPool pool, PreparedStatements statements) : IDisposable
    {
        public PreparedStatements Statements { get; } = statements;

        /// <inheritdoc cref="PreparedStatements.Prepared"/>
        public Microsoft.Data.Sqlite.SqliteCommand Prepared(string sql) => Statements.Prepared(sql);

        public void Dispose() => pool.Return(Statements);
    }
}
