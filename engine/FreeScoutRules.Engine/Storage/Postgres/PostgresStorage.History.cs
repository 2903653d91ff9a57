using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>The read-only views of stored deliveries (<see cref="IDeliveryHistory"/>).</summary>
internal sealed partial class PostgresStorage
{
    private const string RecordColumns = "id, event, conversation_id, seq, received_at, outcome, attempts, last_error, processed_at, result, rules_generation";

    public Task<DeliveryRecord?> GetAsync(long deliveryId, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand($"SELECT {RecordColumns} FROM deliveries WHERE id = @delivery", connection);
                command.Parameters.Bigint("delivery", deliveryId);
                await using var reader = await command.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? ReadRecord(reader) : null;
            },
            cancellationToken);

    public Task<IReadOnlyList<DeliveryRecord>> ListAsync(DeliveryFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return ReadAsync<IReadOnlyList<DeliveryRecord>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand { Connection = connection };
                var where = new List<string>();
                if (filter.ConversationId is { } conversationId)
                {
                    where.Add("conversation_id = @conversation");
                    command.Parameters.Integer("conversation", conversationId);
                }

                if (filter.RuleFailed is { } failed)
                {
                    where.Add(failed ? "rule_failures > 0" : "rule_failures = 0");
                }

                if (filter.Outcome is { } outcome)
                {
                    where.Add("outcome = @outcome");
                    command.Parameters.Text("outcome", outcome);
                }

                if (filter.Since is { } since)
                {
                    where.Add("received_at >= @since");
                    command.Parameters.Time("since", since);
                }

                if (filter.Until is { } until)
                {
                    where.Add("received_at < @until");
                    command.Parameters.Time("until", until);
                }

                if (filter.Event is { } eventName)
                {
                    where.Add("event = @event");
                    command.Parameters.Text("event", eventName);
                }

                if (filter.BeforeId is { } before)
                {
                    where.Add("id < @before");
                    command.Parameters.Bigint("before", before);
                }

                command.CommandText = $"""
                    SELECT {RecordColumns} FROM deliveries
                    {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
                    ORDER BY id DESC LIMIT @limit OFFSET @offset
                    """;
                command.Parameters.Integer("limit", filter.PageSize).Bigint("offset", (long)(filter.Page - 1) * filter.PageSize);
                var records = new List<DeliveryRecord>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    records.Add(ReadRecord(reader));
                }

                return records;
            },
            cancellationToken);
    }

    public Task<IReadOnlyDictionary<string, long>> CountByOutcomeAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyDictionary<string, long>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT outcome, COUNT(*) FROM deliveries GROUP BY outcome", connection);
                var counts = new Dictionary<string, long>(StringComparer.Ordinal);
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    counts[reader.GetString(0)] = reader.GetInt64(1);
                }

                return counts;
            },
            cancellationToken);

    public Task<byte[]?> GetBodyAsync(long deliveryId, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT body, encoding FROM delivery_bodies WHERE delivery_id = @delivery", connection);
                command.Parameters.Bigint("delivery", deliveryId);
                await using var reader = await command.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct) ? BodyEncoding.Decode((byte[])reader.GetValue(0), reader.TextOrNull(1)) : null;
            },
            cancellationToken);

    public Task<IReadOnlyList<ConversationMatch>> FindConversationsAsync(int idOrNumber, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<ConversationMatch>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    """
                    (SELECT conversation_id, FALSE FROM deliveries WHERE conversation_id = @number LIMIT 1)
                    UNION ALL (SELECT conversation_id, TRUE FROM status_changes WHERE number = @number LIMIT 1)
                    """,
                    connection);
                command.Parameters.Integer("number", idOrNumber);
                var matches = new List<ConversationMatch>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    matches.Add(new ConversationMatch(reader.GetInt32(0), reader.GetBoolean(1)));
                }

                // The same conversation found both ways (its id is its number) is one match.
                return matches.Count == 2 && matches[0].ConversationId == matches[1].ConversationId ? [matches[1]] : matches;
            },
            cancellationToken);

    public Task<Activity> ActivityAsync(DateTimeOffset deliveriesSince, DateTimeOffset changesSince, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var batch = new NpgsqlBatch(connection)
                {
                    BatchCommands =
                    {
                        new NpgsqlBatchCommand("SELECT received_at / 60000, COUNT(*) FROM deliveries WHERE received_at >= @since GROUP BY 1 ORDER BY 1"),
                        new NpgsqlBatchCommand("SELECT at / 3600000, COUNT(*) FROM status_changes WHERE at >= @since GROUP BY 1 ORDER BY 1"),
                    },
                };
                batch.BatchCommands[0].Parameters.Time("since", deliveriesSince);
                batch.BatchCommands[1].Parameters.Time("since", changesSince);
                await using var reader = await batch.ExecuteReaderAsync(ct);
                var perMinute = await BucketsAsync(reader, 60_000, ct);
                await reader.NextResultAsync(ct);
                return new Activity(perMinute, await BucketsAsync(reader, 3_600_000, ct));
            },
            cancellationToken);

    public Task<RuleFailureSummary> RuleFailuresAsync(DateTimeOffset since, int scan, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                // The deliveries with failures (their partial index), from the first delivery received since then (the receipt
                // index), newest first and at most scan of them (one more read tells whether there were more).
                const string Failed = """
                    SELECT id, received_at, result FROM deliveries
                    WHERE rule_failures > 0
                      AND id >= COALESCE((SELECT id FROM deliveries WHERE received_at >= @since ORDER BY received_at LIMIT 1), 9223372036854775807)
                    ORDER BY id DESC LIMIT @scan
                    """;
                await using var batch = new NpgsqlBatch(connection)
                {
                    BatchCommands =
                    {
                        new NpgsqlBatchCommand($"""
                            SELECT COALESCE(f.value ->> 'rule', '(unnamed)') COLLATE "C", COUNT(*), MAX(d.received_at), MAX(d.id)
                            FROM ({Failed}) d, jsonb_array_elements(d.result::jsonb -> 'ruleFailures') f
                            GROUP BY 1 ORDER BY 2 DESC, 1
                            """),
                        new NpgsqlBatchCommand($"SELECT COUNT(*) FROM ({Failed.Replace("LIMIT @scan", "LIMIT @scan + 1", StringComparison.Ordinal)}) d"),
                    },
                };
                foreach (NpgsqlBatchCommand statement in batch.BatchCommands)
                {
                    statement.Parameters.Time("since", since).Integer("scan", scan);
                }

                var rules = new List<RuleFailureCount>();
                await using var reader = await batch.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    rules.Add(new RuleFailureCount(reader.GetString(0), reader.GetInt64(1), reader.Time(2), reader.GetInt64(3)));
                }

                await reader.NextResultAsync(ct);
                await reader.ReadAsync(ct);
                var failed = reader.GetInt64(0);
                return new RuleFailureSummary(rules, failed > scan);
            },
            cancellationToken);

    public Task<long> CountAsync(string outcome, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM deliveries WHERE outcome = @outcome", connection);
                command.Parameters.Text("outcome", outcome);
                return (long)(await command.ExecuteScalarAsync(ct))!;
            },
            cancellationToken);

    public Task<IReadOnlyList<StoredDelivery>> LoadHistoryAsync(int? conversationId, CancellationToken cancellationToken) =>
        LoadStoredAsync(
            $"{StoredSelect} {(conversationId is null ? "" : "AND d.conversation_id = @conversation")} ORDER BY d.conversation_id, d.seq",
            conversationId is { } one ? p => p.Integer("conversation", one) : null,
            cancellationToken);

    public Task<IReadOnlyList<RuleGenerationRecord>> ListGenerationsAsync(int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<RuleGenerationRecord>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT content_hash, loaded_at, outcome, rules, diagnostics FROM rule_generations ORDER BY id DESC LIMIT @limit", connection);
                command.Parameters.Integer("limit", limit);
                var generations = new List<RuleGenerationRecord>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    generations.Add(new RuleGenerationRecord(
                        reader.GetString(0), reader.Time(1), reader.GetString(2) == GenerationActive, reader.GetInt32(3), reader.TextOrNull(4)));
                }

                return generations;
            },
            cancellationToken);

    private static async Task<List<(DateTimeOffset Start, long Count)>> BucketsAsync(NpgsqlDataReader reader, long width, CancellationToken cancellationToken)
    {
        var buckets = new List<(DateTimeOffset, long)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            buckets.Add((DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0) * width), reader.GetInt64(1)));
        }

        return buckets;
    }

    private static DeliveryRecord ReadRecord(NpgsqlDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetInt32(2),
        reader.BigintOrNull(3),
        reader.Time(4),
        reader.GetString(5),
        reader.GetInt32(6),
        reader.TextOrNull(7),
        reader.TimeOrNull(8),
        DeliveryResult.FromJson(reader.TextOrNull(9)),
        reader.TextOrNull(10));
}
