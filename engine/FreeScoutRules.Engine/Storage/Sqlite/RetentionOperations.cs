using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>Deletes the bodies of the given processed deliveries, unless one has an intent still pending (its snapshot is needed).</summary>
internal sealed class PruneBodiesOperation(IReadOnlyList<long> deliveryIds) : WriteOperation<int>
{
    private const string Delete = $"""
        DELETE FROM delivery_bodies WHERE delivery_id = $id
          AND EXISTS (SELECT 1 FROM deliveries d WHERE d.id = $id AND d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}'))
          AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = $id AND i.state = '{IntentState.Pending}')
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

/// <summary>Deletes processed deliveries whose intents are all finished, with everything that hangs on them.</summary>
internal sealed class PruneRecordsOperation(IReadOnlyList<long> deliveryIds) : WriteOperation<int>
{
    private const string Prunable = $"""
        SELECT 1 FROM deliveries d WHERE d.id = $id AND d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}')
          AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = $id AND i.state = '{IntentState.Pending}')
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
