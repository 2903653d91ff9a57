using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Deletes the bodies of the given processed deliveries, except those a re-run may still need: a rule
/// failed on it, or one of its intents is pending (its snapshot) or dead (it may be retried).
/// </summary>
internal sealed class PruneBodiesOperation(IReadOnlyList<long> deliveryIds) : WriteOperation<int>
{
    private const string Delete = $"""
        DELETE FROM delivery_bodies WHERE delivery_id = $id
          AND EXISTS (SELECT 1 FROM deliveries d WHERE d.id = $id AND d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}'))
          AND EXISTS (SELECT 1 FROM deliveries d WHERE d.id = $id AND d.rule_failures = 0)
          AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = $id AND i.state <> '{IntentState.Done}')
        """;

    protected override int Run(WriterSession session)
    {
        var pruned = 0;
        foreach (var id in deliveryIds)
        {
            var delete = session.Command(Delete);
            delete.Parameters.AddWithValue("$id", id);
            pruned += delete.ExecuteNonQuery();
        }

        return pruned;
    }
}

/// <summary>Deletes processed deliveries whose intents are all done, with everything that hangs on them.</summary>
internal sealed class PruneRecordsOperation(IReadOnlyList<long> deliveryIds) : WriteOperation<int>
{
    // Dead letters wait for someone (their deliveries stay); the newest delivery and intent rows stay too,
    // so that SQLite never hands out an id again (intent ids are the actions' idempotency keys).
    private const string Prunable = $"""
        SELECT 1 FROM deliveries d WHERE d.id = $id AND d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}')
          AND d.id < (SELECT MAX(id) FROM deliveries)
          AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = $id
                            AND (i.state <> '{IntentState.Done}' OR i.id = (SELECT MAX(id) FROM action_intents)))
        """;

    private static readonly string[] Deletes =
    [
        "DELETE FROM action_attempts WHERE intent_id IN (SELECT id FROM action_intents WHERE delivery_id = $id)",
        "DELETE FROM action_intents WHERE delivery_id = $id",
        "DELETE FROM status_changes WHERE delivery_id = $id",
        "DELETE FROM delivery_bodies WHERE delivery_id = $id",
        "DELETE FROM deliveries WHERE id = $id",
    ];

    protected override int Run(WriterSession session)
    {
        var pruned = 0;
        foreach (var id in deliveryIds)
        {
            if (Bind(session.Command(Prunable), id).ExecuteScalar() is null)
            {
                continue;
            }

            foreach (var sql in Deletes)
            {
                Bind(session.Command(sql), id).ExecuteNonQuery();
            }

            pruned++;
        }

        return pruned;
    }

    private static SqliteCommand Bind(SqliteCommand command, long id)
    {
        command.Parameters.AddWithValue("$id", id);
        return command;
    }
}
