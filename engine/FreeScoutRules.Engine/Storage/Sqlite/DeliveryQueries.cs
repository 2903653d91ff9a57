using System.Globalization;
using FreeScoutRules.Facts;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// Reads of the database, each on its own pooled connection (WAL: readers never block the writer); the reads every
/// delivery makes on kept connections with their statements prepared (<see cref="ReaderPool"/>). Thread-safe.
/// </summary>
internal sealed class DeliveryQueries(SqliteDatabase database)
{
    private const string StoredSelect =
        "SELECT d.id, d.event, b.body, d.conversation_id, d.seq, d.received_at, d.attempts, d.outcome, d.result, b.encoding FROM deliveries d LEFT JOIN delivery_bodies b ON b.delivery_id = d.id WHERE d.conversation_id IS NOT NULL";

    private const string RecordColumns =
        "id, event, conversation_id, seq, received_at, outcome, attempts, last_error, processed_at, result, rules_generation";

    /// <summary>A conversation's pending deliveries in sequence order, at most <paramref name="limit"/> (the backlog's partial index).</summary>
    /// <remarks>
    /// The limit is written out, not bound: SQLite (3.46 on) prepares a statement with a bound LIMIT again whenever that
    /// parameter is bound again, and this one is kept prepared. Callers use a few limits (a lane's batch), one statement each.
    /// </remarks>
    public Task<List<StoredDelivery>> LoadPendingAsync(int conversationId, int limit, CancellationToken cancellationToken = default) =>
        LoadStoredAsync(
            string.Create(CultureInfo.InvariantCulture, $"{StoredSelect} AND d.conversation_id = $conversation AND d.outcome = '{DeliveryOutcome.Pending}' ORDER BY d.seq LIMIT {limit}"),
            c => PreparedStatements.Set(c, "$conversation", conversationId),
            cancellationToken);

    /// <summary>
    /// The stored conversation deliveries (every outcome) with bodies and results, per conversation in
    /// sequence order: the history <c>replay</c> runs again.
    /// </summary>
    public Task<List<StoredDelivery>> LoadHistoryAsync(int? conversationId, CancellationToken cancellationToken = default) =>
        LoadStoredAsync(
            $"{StoredSelect} {(conversationId is null ? "" : "AND d.conversation_id = $conversation")} ORDER BY d.conversation_id, d.seq",
            conversationId is null ? null : c => PreparedStatements.Set(c, "$conversation", conversationId),
            cancellationToken);

    /// <summary>One conversation delivery with its body, whatever its outcome, or <c>null</c>.</summary>
    public async Task<StoredDelivery?> GetStoredAsync(long id, CancellationToken cancellationToken = default) =>
        (await LoadStoredAsync($"{StoredSelect} AND d.id = $id", c => PreparedStatements.Set(c, "$id", id), cancellationToken)).FirstOrDefault();

    /// <summary>The newest processed, not stale, non-timer delivery of the conversation before <paramref name="beforeSequence"/>, with its body.</summary>
    public async Task<StoredDelivery?> LoadSnapshotAsync(int conversationId, long beforeSequence, CancellationToken cancellationToken = default) =>
        (await LoadStoredAsync(
            $"""
            {StoredSelect} AND d.conversation_id = $conversation AND d.seq < $seq AND d.outcome = '{DeliveryOutcome.Done}'
              AND d.event <> '{TimerFiring.Event}' AND json_extract(d.result, '$.stale') = 0
            ORDER BY d.seq DESC LIMIT 1
            """,
            c =>
            {
                PreparedStatements.Set(c, "$conversation", conversationId);
                PreparedStatements.Set(c, "$seq", beforeSequence);
            },
            cancellationToken)).FirstOrDefault();

    /// <summary>How many timers are pending (the partial due-time index holds exactly those).</summary>
    public async Task<long> CountPendingTimersAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM timers WHERE state = '{TimerState.Pending}'";
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The known state of a conversation and the intents of its deliveries received since <paramref name="intentsSince"/>.</summary>
    public async Task<KnownConversation> GetConversationStateAsync(int conversationId, DateTimeOffset intentsSince, CancellationToken cancellationToken = default)
    {
        using var connection = await database.Readers.RentAsync(cancellationToken);
        PriorState? known = null;
        var state = connection.Prepared("SELECT status, updated_at FROM conversations WHERE id = $id AND status IS NOT NULL");
        PreparedStatements.Set(state, "$id", conversationId);
        await using (var reader = await state.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                known = new PriorState(conversationId, reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)));
            }
        }

        var recent = new List<RecentIntent>();
        var intents = connection.Prepared("""
            SELECT i.rule, d.received_at FROM action_intents i JOIN deliveries d ON d.id = i.delivery_id
            WHERE i.conversation_id = $id AND d.received_at >= $since ORDER BY i.id
            """);
        PreparedStatements.Set(intents, "$id", conversationId);
        PreparedStatements.Set(intents, "$since", intentsSince.ToUnixTimeMilliseconds());
        await using (var reader = await intents.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                recent.Add(new RecentIntent(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1))));
            }
        }

        return new KnownConversation(conversationId, known, recent);
    }

    private async Task<List<StoredDelivery>> LoadStoredAsync(string sql, Action<SqliteCommand>? bind, CancellationToken cancellationToken)
    {
        using var connection = await database.Readers.RentAsync(cancellationToken);
        var command = connection.Prepared(sql);
        bind?.Invoke(command);
        var stored = new List<StoredDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            stored.Add(new StoredDelivery(
                reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : BodyEncoding.Decode((byte[])reader.GetValue(2), reader.IsDBNull(9) ? null : reader.GetString(9)), reader.GetInt32(3), reader.GetInt64(4),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)), reader.GetInt32(6), reader.GetString(7),
                DeliveryResult.FromJson(reader.IsDBNull(8) ? null : reader.GetString(8))));
        }

        return stored;
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
        // With a conversation, its index finds the rows (a few, tens of thousands for the largest) and the other
        // conditions are only checked on them ('+'): offered the event or outcome index, SQLite (without statistics)
        // takes it and walks every delivery of that event or outcome (StatementPlanTests).
        var other = filter.ConversationId is null ? "" : "+";
        if (filter.ConversationId is { } conversationId)
        {
            where.Add("conversation_id = $conversation");
            command.Parameters.AddWithValue("$conversation", conversationId);
        }

        if (filter.RuleFailed is { } failed)
        {
            where.Add(failed ? $"{other}rule_failures > 0" : "rule_failures = 0");
        }

        if (filter.Outcome is { } outcome)
        {
            where.Add($"{other}outcome = $outcome");
            command.Parameters.AddWithValue("$outcome", outcome);
        }

        if (filter.Since is { } since)
        {
            where.Add($"{other}received_at >= $since");
            command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        }

        if (filter.Until is { } until)
        {
            where.Add($"{other}received_at < $until");
            command.Parameters.AddWithValue("$until", until.ToUnixTimeMilliseconds());
        }

        if (filter.Event is { } eventName)
        {
            where.Add($"{other}event = $event");
            command.Parameters.AddWithValue("$event", eventName);
        }

        if (filter.BeforeId is { } before)
        {
            where.Add($"{other}id < $before");
            command.Parameters.AddWithValue("$before", before);
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

    /// <summary>Processed deliveries received before <paramref name="before"/>, after <paramref name="after"/>, oldest first: candidates for retention.</summary>
    public async Task<List<RetentionCursor>> ProcessedAsync(
        RetentionCursor? after, DateTimeOffset before, int limit, bool withoutPendingIntents, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = ProcessedSql(withoutPendingIntents);
        command.Parameters.AddWithValue("$from", (after?.ReceivedAt ?? DateTimeOffset.UnixEpoch).ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$fromId", after?.Id ?? 0);
        command.Parameters.AddWithValue("$before", before.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$limit", limit);
        var rows = new List<RetentionCursor>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RetentionCursor(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetInt64(0)));
        }

        return rows;
    }

    /// <summary>
    /// The retention candidates' query: a range of the receipt-time index from the cursor on, in index
    /// order. The outcome is only checked on the rows (the <c>+</c>): offered the outcome index, SQLite
    /// takes it and sorts every done delivery for each batch (0.7 s a batch with 5,000,000 stored).
    /// </summary>
    internal static string ProcessedSql(bool withoutPendingIntents) => $"""
        SELECT d.id, d.received_at FROM deliveries d
        WHERE d.received_at >= $from AND (d.received_at > $from OR d.id > $fromId) AND d.received_at < $before
          AND +d.outcome IN ('{DeliveryOutcome.Done}', '{DeliveryOutcome.Skipped}')
          {(withoutPendingIntents ? $"AND NOT EXISTS (SELECT 1 FROM action_intents i WHERE i.delivery_id = d.id AND i.state <> '{IntentState.Done}')" : "")}
        ORDER BY d.received_at, d.id LIMIT $limit
        """;

    /// <summary>
    /// A retention cursor just before the oldest delivery that still has its body (a minute earlier, as
    /// receipt times and ids may disagree by moments), or <c>null</c> when no body is stored.
    /// </summary>
    public async Task<RetentionCursor?> BeforeOldestBodyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT d.received_at FROM delivery_bodies b JOIN deliveries d ON d.id = b.delivery_id ORDER BY b.delivery_id LIMIT 1";
        return await command.ExecuteScalarAsync(cancellationToken) is long receivedAt
            ? new RetentionCursor(DateTimeOffset.FromUnixTimeMilliseconds(receivedAt) - TimeSpan.FromMinutes(1), 0)
            : null;
    }

    /// <summary>Pending timers matching <paramref name="filter"/>, soonest due first (the due-time index).</summary>
    public async Task<List<StoredTimer>> ListTimersAsync(TimerFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = TimersSql(filter);
        command.Parameters.AddWithValue("$conversation", (object?)filter.ConversationId ?? DBNull.Value);
        command.Parameters.AddWithValue("$before", (object?)filter.DueBefore?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        command.Parameters.AddWithValue("$limit", filter.Limit);
        command.Parameters.AddWithValue("$state", (object?)filter.State ?? DBNull.Value);
        var timers = new List<StoredTimer>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            timers.Add(new StoredTimer(
                reader.GetInt32(0), reader.GetString(1), reader.GetInt32(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)), reader.GetString(4),
                reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetInt64(6), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
                reader.IsDBNull(8) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8))));
        }

        return timers;
    }

    /// <summary>The query of <see cref="ListTimersAsync"/> (parameters <c>$conversation</c>, <c>$before</c>, <c>$limit</c>, <c>$state</c>).</summary>
    internal static string TimersSql(TimerFilter filter) => $"""
            SELECT conversation_id, name, number, due_at, state, rule, delivery_id, set_at, fired_at FROM timers
            WHERE {State(filter.State)} {(filter.ConversationId is null ? "" : "AND conversation_id = $conversation")}
              {(filter.DueBefore is null ? "" : "AND due_at < $before")}
            ORDER BY due_at, conversation_id, name LIMIT $limit
            """;

    /// <summary>
    /// The state condition: pending as a literal, which lets SQLite use the partial index of pending timers by due time
    /// (a parameter would not prove the index's condition, and the timer loop would scan the table).
    /// </summary>
    private static string State(string? state) => state switch
    {
        null => "1",
        TimerState.Pending => $"state = '{TimerState.Pending}'",
        _ => "state = $state",
    };

    /// <summary>How many deliveries have <paramref name="outcome"/> (an index range: cheap for rare outcomes).</summary>
    public async Task<long> CountAsync(string outcome, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM deliveries WHERE outcome = $outcome";
        command.Parameters.AddWithValue("$outcome", outcome);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Deliveries per minute (by receipt, index on received_at) and status changes per hour (by their time, index on at).</summary>
    public async Task<Activity> ActivityAsync(DateTimeOffset deliveriesSince, DateTimeOffset changesSince, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return new Activity(
            await BucketsAsync(connection, "SELECT received_at / 60000, COUNT(*) FROM deliveries WHERE received_at >= $since GROUP BY 1 ORDER BY 1", deliveriesSince, 60_000, cancellationToken),
            await BucketsAsync(connection, "SELECT at / 3600000, COUNT(*) FROM status_changes WHERE at >= $since GROUP BY 1 ORDER BY 1", changesSince, 3_600_000, cancellationToken));
    }

    /// <summary>
    /// Rule failures per rule since <paramref name="since"/>: the deliveries with failures (their partial index), from the
    /// first delivery received since then (the receipt index), newest first and at most <paramref name="scan"/> of them.
    /// </summary>
    public async Task<RuleFailureSummary> RuleFailuresAsync(DateTimeOffset since, int scan, CancellationToken cancellationToken = default)
    {
        const string Failed = """
            SELECT id, received_at, result FROM deliveries
            WHERE rule_failures > 0
              AND id >= COALESCE((SELECT id FROM deliveries WHERE received_at >= $since ORDER BY received_at LIMIT 1), 9223372036854775807)
            ORDER BY id DESC LIMIT $scan
            """;
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT json_extract(f.value, '$.rule'), COUNT(*), MAX(d.received_at), MAX(d.id)
            FROM ({Failed}) d, json_each(d.result, '$.ruleFailures') f
            GROUP BY 1 ORDER BY 2 DESC, 1;
            SELECT COUNT(*) FROM ({Failed.Replace("LIMIT $scan", "LIMIT $scan + 1", StringComparison.Ordinal)});
            """;
        command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$scan", scan);
        var rules = new List<RuleFailureCount>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rules.Add(new RuleFailureCount(
                reader.IsDBNull(0) ? "(unnamed)" : reader.GetString(0), reader.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), reader.GetInt64(3)));
        }

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new RuleFailureSummary(rules, reader.GetInt64(0) > scan);
    }

    private static async Task<List<(DateTimeOffset, long)>> BucketsAsync(
        Microsoft.Data.Sqlite.SqliteConnection connection, string sql, DateTimeOffset since, long width, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        var buckets = new List<(DateTimeOffset, long)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            buckets.Add((DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0) * width), reader.GetInt64(1)));
        }

        return buckets;
    }

    /// <summary>The raw body of any delivery, decoded, or <c>null</c>.</summary>
    public async Task<byte[]?> GetBodyAsync(long deliveryId, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT body, encoding FROM delivery_bodies WHERE delivery_id = $id";
        command.Parameters.AddWithValue("$id", deliveryId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? BodyEncoding.Decode((byte[])reader.GetValue(0), reader.IsDBNull(1) ? null : reader.GetString(1))
            : null;
    }

    /// <summary>The rule generations recorded, newest first.</summary>
    public async Task<IReadOnlyList<RuleGenerationRecord>> ListGenerationsAsync(int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT content_hash, loaded_at, outcome, rules, diagnostics FROM rule_generations ORDER BY id DESC LIMIT $limit";
        command.Parameters.AddWithValue("$limit", limit);
        var generations = new List<RuleGenerationRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            generations.Add(new RuleGenerationRecord(
                reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetString(2) == GenerationOutcome.Active,
                reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        return generations;
    }

    /// <summary>The conversation whose id is <paramref name="idOrNumber"/>, and the one whose status changes carry it as their number.</summary>
    public async Task<IReadOnlyList<ConversationMatch>> FindConversationsAsync(int idOrNumber, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT conversation_id, 0 FROM (SELECT conversation_id FROM deliveries WHERE conversation_id = $q LIMIT 1)
            UNION ALL SELECT conversation_id, 1 FROM (SELECT conversation_id FROM status_changes WHERE number = $q LIMIT 1)
            """;
        command.Parameters.AddWithValue("$q", idOrNumber);
        var matches = new List<ConversationMatch>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            matches.Add(new ConversationMatch(reader.GetInt32(0), reader.GetInt64(1) == 1));
        }

        // The same conversation found both ways (its id is its number) is one match.
        return matches.Count == 2 && matches[0].ConversationId == matches[1].ConversationId ? [matches[1]] : matches;
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
