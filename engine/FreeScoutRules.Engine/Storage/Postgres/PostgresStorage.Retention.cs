using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>Retention (<see cref="IRetentionStore"/>), reconciliation's watermark and known states, the rule generation log.</summary>
internal sealed partial class PostgresStorage
{
    /// <summary>The <c>outcome</c> of a rule generation loaded and put in force (the SQLite store's spelling).</summary>
    private const string GenerationActive = "active";

    /// <summary>The <c>outcome</c> of a rule generation that did not compile.</summary>
    private const string GenerationFailed = "failed";

    // Bodies kept while a re-run may still need them: a rule failed on the delivery, or one of its intents is pending
    // (its snapshot) or dead (it may be retried).
    private const string PruneBodies = $"""
        DELETE FROM delivery_bodies b USING deliveries d
        WHERE b.delivery_id = d.id AND d.id = ANY (@deliveries)
          AND d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}') AND d.rule_failures = 0
          AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = d.id AND i.state <> '{IntentState.Done}')
        """;

    // Dead letters wait for someone (their deliveries stay); the newest delivery and intent rows stay too, as in every
    // store. Locked, so that a re-run asked for meanwhile waits and then finds nothing, or goes first and keeps it.
    private const string PrunableRecords = $"""
        SELECT d.id FROM deliveries d
        WHERE d.id = ANY (@deliveries) AND d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}')
          AND d.id < (SELECT MAX(id) FROM deliveries)
          AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = d.id
                            AND (i.state <> '{IntentState.Done}' OR i.id = (SELECT MAX(id) FROM action_intents)))
        FOR UPDATE OF d
        """;

    private static readonly string[] PruneRecords =
    [
        "DELETE FROM action_attempts WHERE intent_id IN (SELECT id FROM action_intents WHERE delivery_id = ANY (@deliveries))",
        "DELETE FROM action_intents WHERE delivery_id = ANY (@deliveries)",
        "DELETE FROM status_changes WHERE delivery_id = ANY (@deliveries)",
        "DELETE FROM delivery_bodies WHERE delivery_id = ANY (@deliveries)",
        "DELETE FROM deliveries WHERE id = ANY (@deliveries)",
    ];

    public async Task<(int Pruned, RetentionCursor? Last)> PruneBodiesAsync(RetentionCursor? after, DateTimeOffset before, int batch, CancellationToken cancellationToken)
    {
        // A first pass (after a start) begins at the oldest body still stored, not at the oldest record: months of records
        // whose bodies went long ago would otherwise be walked again after every restart.
        after ??= await BeforeOldestBodyAsync(cancellationToken);
        if (after is null)
        {
            return (0, null);
        }

        var candidates = await ProcessedAsync(after, before, batch, withoutIntentsNotDone: false, cancellationToken);
        if (candidates.Count == 0)
        {
            return (0, null);
        }

        var pruned = await WriteAsync(
            async (transaction, ct) =>
            {
                await using var delete = transaction.Command(PruneBodies);
                delete.Parameters.Bigints("deliveries", [.. candidates.Select(c => c.Id)]);
                return await delete.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);
        return (pruned, candidates[^1]);
    }

    public async Task<int> PruneRecordsAsync(DateTimeOffset before, int batch, CancellationToken cancellationToken)
    {
        var candidates = await ProcessedAsync(null, before, batch, withoutIntentsNotDone: true, cancellationToken);
        if (candidates.Count == 0)
        {
            return 0;
        }

        return await WriteAsync(
            async (transaction, ct) =>
            {
                var prunable = new List<long>();
                await using (var select = transaction.Command(PrunableRecords))
                {
                    select.Parameters.Bigints("deliveries", [.. candidates.Select(c => c.Id)]);
                    await using var reader = await select.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        prunable.Add(reader.GetInt64(0));
                    }
                }

                if (prunable.Count > 0)
                {
                    await using var delete = transaction.Batch(PruneRecords);
                    foreach (NpgsqlBatchCommand statement in delete.BatchCommands)
                    {
                        statement.Parameters.Bigints("deliveries", [.. prunable]);
                    }

                    await delete.ExecuteNonQueryAsync(ct);
                }

                return prunable.Count;
            },
            cancellationToken);
    }

    /// <summary>Processed deliveries received before <paramref name="before"/>, after <paramref name="after"/>, oldest first: candidates for retention.</summary>
    private Task<List<RetentionCursor>> ProcessedAsync(RetentionCursor? after, DateTimeOffset before, int limit, bool withoutIntentsNotDone, CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    $"""
                    SELECT d.id, d.received_at FROM deliveries d
                    WHERE d.received_at >= @from AND (d.received_at > @from OR d.id > @fromId) AND d.received_at < @before
                      AND d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}')
                      {(withoutIntentsNotDone ? $"AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = d.id AND i.state <> '{IntentState.Done}')" : "")}
                    ORDER BY d.received_at, d.id LIMIT @limit
                    """,
                    connection);
                command.Parameters.Time("from", after?.ReceivedAt ?? DateTimeOffset.UnixEpoch).Bigint("fromId", after?.Id ?? 0).Time("before", before).Integer("limit", limit);
                var rows = new List<RetentionCursor>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    rows.Add(new RetentionCursor(reader.Time(1), reader.GetInt64(0)));
                }

                return rows;
            },
            cancellationToken);

    /// <summary>A cursor just before the oldest delivery that still has its body (a minute earlier: receipt times and ids may disagree by moments); <c>null</c> when none has.</summary>
    private Task<RetentionCursor?> BeforeOldestBodyAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    "SELECT d.received_at FROM delivery_bodies b JOIN deliveries d ON d.id = b.delivery_id ORDER BY b.delivery_id LIMIT 1", connection);
                return await command.ExecuteScalarAsync(ct) is long receivedAt
                    ? new RetentionCursor(DateTimeOffset.FromUnixTimeMilliseconds(receivedAt) - TimeSpan.FromMinutes(1), 0)
                    : null;
            },
            cancellationToken);

    public Task<DateTimeOffset?> LoadWatermarkAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT watermark FROM reconciliation WHERE id = 1", connection);
                return await command.ExecuteScalarAsync(ct) is long milliseconds ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds) : (DateTimeOffset?)null;
            },
            cancellationToken);

    public Task AdvanceWatermarkAsync(DateTimeOffset watermark, DateTimeOffset at, NamedLease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return WriteAsync(
            async (transaction, ct) =>
            {
                await CheckLeaseAsync(transaction, lease, ct);
                await using var advance = transaction.Command("""
                    INSERT INTO reconciliation AS r (id, watermark, advanced_at) VALUES (1, @watermark, @at)
                    ON CONFLICT (id) DO UPDATE SET watermark = excluded.watermark, advanced_at = excluded.advanced_at
                    WHERE excluded.watermark > r.watermark
                    """);
                advance.Parameters.Time("watermark", watermark).Time("at", at);
                return await advance.ExecuteNonQueryAsync(ct) == 1;
            },
            cancellationToken);
    }

    public Task<IReadOnlyDictionary<int, DateTimeOffset>> KnownUpdatedAtAsync(IReadOnlyCollection<int> conversationIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(conversationIds);
        if (conversationIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyDictionary<int, DateTimeOffset>>(new Dictionary<int, DateTimeOffset>());
        }

        return ReadAsync<IReadOnlyDictionary<int, DateTimeOffset>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    "SELECT id, updated_at FROM conversations WHERE id = ANY (@conversations) AND status IS NOT NULL AND updated_at IS NOT NULL", connection);
                command.Parameters.Integers("conversations", [.. conversationIds]);
                var known = new Dictionary<int, DateTimeOffset>(conversationIds.Count);
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    known[reader.GetInt32(0)] = reader.Time(1);
                }

                return known;
            },
            cancellationToken);
    }

    public Task RecordAsync(string contentHash, DateTimeOffset at, bool loaded, int rules, string? diagnostics, CancellationToken cancellationToken) =>
        WriteAsync(
            async (transaction, ct) =>
            {
                await using var insert = transaction.Command(
                    "INSERT INTO rule_generations (content_hash, loaded_at, outcome, rules, diagnostics) VALUES (@hash, @at, @outcome, @rules, @diagnostics)");
                insert.Parameters.Text("hash", contentHash).Time("at", at).Text("outcome", loaded ? GenerationActive : GenerationFailed)
                    .Integer("rules", rules).Text("diagnostics", diagnostics);
                return await insert.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);
}
