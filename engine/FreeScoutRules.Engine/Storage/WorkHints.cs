using System.Threading.Channels;

namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// A hint that a conversation has new pending work: a delivery stored, a timer fired, a delivery put back in line.
/// <see cref="Parsed"/> is the conversation its producer parsed (a delivery stored by this process), so that dispatch
/// need not parse the stored body again.
/// </summary>
internal sealed record WorkHint(int ConversationId, long DeliveryId, FreeScout.Conversation? Parsed = null);

/// <summary>
/// Wake-ups for dispatch, announced by the store after it commits new pending work (SQLite: in-process, after the
/// commit; PostgreSQL: <c>NOTIFY</c> in the same transaction). An optimisation only: the store is the queue, and
/// dispatch sweeps it for pending work on its own, so a hint dropped (the buffer full, another process's work) delays
/// work by at most the sweep interval and loses nothing. Thread-safe.
/// </summary>
internal sealed class WorkHints
{
    /// <summary>Hints kept for dispatch to read; past it they are dropped (the sweep finds their work).</summary>
    public const int Capacity = 65_536;

    private readonly Channel<WorkHint> _hints = Channel.CreateBounded<WorkHint>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

    public ChannelReader<WorkHint> Reader => _hints.Reader;

    /// <summary>Announces committed pending work (dropped when the buffer is full: the sweep finds its work).</summary>
    public void Stored(WorkHint hint) => _hints.Writer.TryWrite(hint);
}
