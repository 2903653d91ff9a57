using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Moves the reconciliation watermark on, never back; refused (<see cref="ClaimLostException"/>, nothing written) unless
/// <paramref name="lease"/> is still the reconciliation lease's holder and epoch.
/// </summary>
internal sealed class AdvanceWatermarkOperation(DateTimeOffset watermark, DateTimeOffset at, NamedLease lease) : WriteOperation<bool>
{
    private const string Upsert = """
        INSERT INTO reconciliation (id, watermark, advanced_at) VALUES (1, $watermark, $at)
        ON CONFLICT (id) DO UPDATE SET watermark = excluded.watermark, advanced_at = excluded.advanced_at
        WHERE excluded.watermark > reconciliation.watermark
        """;

    protected override bool Run(WriterSession session)
    {
        LeaseFence.Check(session, lease);
        var upsert = session.Command(Upsert);
        upsert.Parameters.AddWithValue("$watermark", watermark.ToUnixTimeMilliseconds());
        upsert.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
        return upsert.ExecuteNonQuery() == 1;
    }
}

/// <summary>The reads of reconciliation: its watermark, and the known states it compares snapshots with.</summary>
internal sealed class ReconciliationQueries(SqliteDatabase database)
{
    public async Task<DateTimeOffset?> LoadWatermarkAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT watermark FROM reconciliation WHERE id = 1";
        return await command.ExecuteScalarAsync(cancellationToken) is long milliseconds ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds) : null;
    }

    /// <summary>One query for a page of conversations (their ids as a JSON array, so the statement stays the same).</summary>
    public async Task<IReadOnlyDictionary<int, DateTimeOffset>> KnownUpdatedAtAsync(IReadOnlyCollection<int> conversationIds, CancellationToken cancellationToken)
    {
        var known = new Dictionary<int, DateTimeOffset>(conversationIds.Count);
        if (conversationIds.Count == 0)
        {
            return known;
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT c.id, c.updated_at FROM json_each($ids) j JOIN conversations c ON c.id = j.value
            WHERE c.status IS NOT NULL AND c.updated_at IS NOT NULL
            """;
        command.Parameters.AddWithValue("$ids", System.Text.Json.JsonSerializer.Serialize(conversationIds));
        await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            known[reader.GetInt32(0)] = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1));
        }

        return known;
    }
}
