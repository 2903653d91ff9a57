using FreeScoutRules.Engine.Timers;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Fires a pending timer, all or nothing: marks it <c>fired</c> and stores its firing as the next delivery
/// of its conversation (<c>timer.elapsed</c>). Writes nothing, and returns <c>null</c>, when that scheduling
/// is not pending any more (scheduled again, cancelled, or fired already): each scheduling fires once.
/// </summary>
internal sealed class FireTimerOperation(TimerFiring firing, WorkHints? hints = null, PendingPrefetch? prefetch = null) : WriteOperation<StoreResult?>
{
    private const string MarkFired = $"""
        UPDATE timers SET state = '{TimerState.Fired}', fired_at = $at
        WHERE conversation_id = $conversation AND name = $name AND number = $number AND state = '{TimerState.Pending}'
        """;

    // SqliteMutation.TimerFiresTwice: a scheduling fired already is fired again.
    private static readonly string MarkFiredIfNotPending = MarkFired.Replace($" AND state = '{TimerState.Pending}'", "", StringComparison.Ordinal);

    private readonly byte[] _body = BodyEncoding.Compress(firing.ToJson());
    private readonly NewDelivery _delivery = new(TimerFiring.Event, ReadOnlyMemory<byte>.Empty, firing.DedupeKey(), firing.ConversationId, firing.FiredAt);

    protected override StoreResult? Run(WriterSession session)
    {
        prefetch?.Invalidate(firing.ConversationId);
        var mark = session.Prepared(session.Mutations.HasFlag(SqliteMutation.TimerFiresTwice) ? MarkFiredIfNotPending : MarkFired);
        WriterSession.Set(mark, "$at", firing.FiredAt.ToUnixTimeMilliseconds());
        WriterSession.Set(mark, "$conversation", firing.ConversationId);
        WriterSession.Set(mark, "$name", firing.Name);
        WriterSession.Set(mark, "$number", firing.Number);
        return mark.ExecuteNonQuery() == 1 ? StoreDeliveryOperation.Store(session, _delivery, _body) : null;
    }

    protected override void OnCommitted(StoreResult? result)
    {
        if (result is { Duplicate: false })
        {
            hints?.Stored(new WorkHint(firing.ConversationId, result.DeliveryId));
        }
    }
}
