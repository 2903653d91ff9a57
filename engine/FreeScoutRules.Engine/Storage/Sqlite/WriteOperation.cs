using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// One unit of work for <see cref="InboxWriter"/>. It runs inside the writer's batch transaction and
/// is completed only after the batch commits: a caller that sees the result knows it is durable.
/// To refuse, throw <see cref="WriteRefusedException"/> before writing anything.
/// </summary>
internal abstract class WriteOperation
{
    /// <summary>Runs the SQL of this operation. May run again in a transaction of its own when its batch fails.</summary>
    public abstract void Execute(WriterSession session);

    /// <summary>Called in batch order right after the commit, before callers are released.</summary>
    public abstract void Committed();

    public abstract void Fail(Exception exception);
}

/// <summary>
/// An operation's refusal, thrown before it has written anything (a failed precondition): only that
/// operation fails, the rest of its batch commits.
/// </summary>
internal sealed class WriteRefusedException(Exception reason) : Exception(reason.Message, reason)
{
    /// <summary>What the operation's caller receives.</summary>
    public Exception Reason { get; } = reason;
}

/// <summary>A <see cref="WriteOperation"/> with a result for its caller.</summary>
internal abstract class WriteOperation<T> : WriteOperation
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T _result = default!;

    public Task<T> Task => _completion.Task;

    public sealed override void Execute(WriterSession session) => _result = Run(session);

    public sealed override void Committed()
    {
        try
        {
            OnCommitted(_result);
        }
        finally
        {
            // The write is durable whatever the hook did: the caller must hear so.
            _completion.TrySetResult(_result);
        }
    }

    public sealed override void Fail(Exception exception) => _completion.TrySetException(exception);

    protected abstract T Run(WriterSession session);

    /// <summary>Hook for work that must follow the commit in commit order (for example queueing for dispatch).</summary>
    protected virtual void OnCommitted(T result)
    {
    }
}

/// <summary>The writer's connection and transaction for one batch, with prepared commands reused across batches.</summary>
/// <param name="connection">The writer's connection.</param>
internal sealed class WriterSession(SqliteConnection connection) : PreparedStatements(connection)
{
    public SqliteTransaction? Transaction { get; set; }

    /// <summary>Deliberate breaks the operations make, for the contract suite's mutation test only; none in production.</summary>
    public SqliteMutation Mutations { get; init; }

    /// <summary>A prepared command for <paramref name="sql"/>, its parameters cleared, bound to the current transaction.</summary>
    public SqliteCommand Command(string sql)
    {
        var command = Prepared(sql);
        command.Parameters.Clear();
        return command;
    }

    protected override void OnUse(SqliteCommand command) => command.Transaction = Transaction;

    public void Execute(string sql) => Command(sql).ExecuteNonQuery();

    /// <summary>
    /// The last sequence number given to a delivery of the conversation (0 for none), read in the writing transaction
    /// (never kept in memory: the store, not a process, owns sequence numbers). Two index seeks on pages the store
    /// reads anyway: the conversation's newest entry, and its row (retention may have deleted every delivery record
    /// of an old conversation).
    /// </summary>
    public long LastSequence(int conversationId)
    {
        var max = Prepared("""
            SELECT MAX(COALESCE((SELECT MAX(seq) FROM deliveries WHERE conversation_id = $id), 0),
                       COALESCE((SELECT last_applied_seq FROM conversations WHERE id = $id), 0))
            """);
        Set(max, "$id", conversationId);
        return (long)max.ExecuteScalar()!;
    }
}
