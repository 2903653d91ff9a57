using FreeScoutRules.Facts;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage;

/// <summary>Reads of the database, each on its own pooled connection (WAL: readers never block the writer). Thread-safe.</summary>
internal sealed class DeliveryQueries(SqliteDatabase database)
{
    private const string PendingSelect =
        "SELECT d.id, d.event, b.body, d.conversation_id, d.seq, d.received_at, d.attempts FROM deliveries d JOIN delivery_bodies b ON b.delivery_id = d.id WHERE d.outcome = 'pending' AND d.conversation_id IS NOT NULL";

    private const string RecordColumns =
        "id, event, conversation_id, seq, received_at, outcome, attempts, last_error, processed_at, result, rules_generation";

    /// <summary>Every pending conversation delivery, in dispatch order (per conversation by sequence).</summary>
    public async Task<List<StoredPendingDelivery>> LoadPendingAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"{PendingSelect} ORDER BY d.conversation_id, d.seq";
        var pending = new List<StoredPendingDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            pending.Add(ReadPending(reader));
        }

        return pending;
    }

    /// <summary>
    /// The stored conversation deliveries (every outcome) with bodies and results, per conversation in
    /// sequence order: the history <c>replay</c> runs again.
    /// </summary>
    public async Task<List<(StoredPendingDelivery Delivery, string Outcome, DeliveryResult? Result)>> LoadHistoryAsync(
        int? conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT d.id, d.event, b.body, d.conversation_id, d.seq, d.received_at, d.attempts, d.outcome, d.result
            FROM deliveries d JOIN delivery_bodies b ON b.delivery_id = d.id
            WHERE d.conversation_id IS NOT NULL {(conversationId is null ? "" : "AND d.conversation_id = $conversation")}
            ORDER BY d.conversation_id, d.seq
            """;
        if (conversationId is not null)
        {
            command.Parameters.AddWithValue("$conversation", conversationId);
        }

        var history = new List<(StoredPendingDelivery, string, DeliveryResult?)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            history.Add((ReadPending(reader), reader.GetString(7), DeliveryResult.FromJson(reader.IsDBNull(8) ? null : reader.GetString(8))));
        }

        return history;
    }

    /// <summary>One pending conversation delivery with its body, or <c>null</c>.</summary>
    public async Task<StoredPendingDelivery?> GetPendingAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"{PendingSelect} AND d.id = $id";
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadPending(reader) : null;
    }

    /// <summary>The known state of a conversation, or <c>null</c> when none was recorded.</summary>
    public async Task<PriorState?> GetConversationStateAsync(int conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT status, updated_at FROM conversations WHERE id = $id AND status IS NOT NULL";
        command.Parameters.AddWithValue("$id", conversationId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new PriorState(conversationId, reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)))
            : null;
    }

    public async Task<DeliveryRecord?> GetAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {RecordColumns} FROM deliveries WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadRecord(reader) : null;
    }

    /// <summary>Deliveries matching <paramref name="filter"/>, newest first, one page.</summary>
    public async Task<List<DeliveryRecord>> ListAsync(DeliveryFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var where = new List<string>();
        if (filter.ConversationId is { } conversationId)
        {
            where.Add("conversation_id = $conversation");
            command.Parameters.AddWithValue("$conversation", conversationId);
        }

        if (filter.Outcome is { } outcome)
        {
            where.Add("outcome = $outcome");
            command.Parameters.AddWithValue("$outcome", outcome);
        }

        if (filter.Since is { } since)
        {
            where.Add("received_at >= $since");
            command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        }

        if (filter.Until is { } until)
        {
            where.Add("received_at < $until");
            command.Parameters.AddWithValue("$until", until.ToUnixTimeMilliseconds());
        }

        command.CommandText = $"""
            SELECT {RecordColumns} FROM deliveries
            {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
            ORDER BY id DESC LIMIT $limit OFFSET $offset
            """;
        command.Parameters.AddWithValue("$limit", filter.PageSize);
        command.Parameters.AddWithValue("$offset", (long)(filter.Page - 1) * filter.PageSize);
        var records = new List<DeliveryRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            records.Add(ReadRecord(reader));
        }

        return records;
    }

    /// <summary>How many deliveries have each outcome.</summary>
    public async Task<Dictionary<string, long>> CountByOutcomeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT outcome, COUNT(*) FROM deliveries GROUP BY outcome";
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    private static StoredPendingDelivery ReadPending(SqliteDataReader reader) => new(
        reader.GetInt64(0), reader.GetString(1), (byte[])reader.GetValue(2), reader.GetInt32(3), reader.GetInt64(4),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)), reader.GetInt32(6));

    private static DeliveryRecord ReadRecord(SqliteDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetInt32(2),
        reader.IsDBNull(3) ? null : reader.GetInt64(3),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
        reader.GetString(5),
        reader.GetInt32(6),
        reader.IsDBNull(7) ? null : reader.GetString(7),
        reader.IsDBNull(8) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8)),
        DeliveryResult.FromJson(reader.IsDBNull(9) ? null : reader.GetString(9)),
        reader.IsDBNull(10) ? null : reader.GetString(10));
}
