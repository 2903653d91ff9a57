using System.Data.Common;

namespace FreeScoutRules.Engine.Storage;

/// <summary>How a column of the copy's target is filled (<see cref="StoreCopyMap"/>).</summary>
internal enum CopiedFrom
{
    /// <summary>From the source's column of the same name, as stored.</summary>
    SameColumn,

    /// <summary>
    /// <c>conversations.last_seq</c>, which the target keeps and the SQLite store derives: the largest sequence number its
    /// deliveries have, at least its <c>last_applied_seq</c> (retention may have deleted every delivery). The source also
    /// makes the row of a conversation that has deliveries but no row yet (stored, never claimed): the target gives
    /// sequence numbers and claims from that row.
    /// </summary>
    LastSequence,

    /// <summary>In both schemas, deliberately not copied: the target keeps its default (a claim: nobody holds anything in the copy).</summary>
    Cleared,
}

/// <summary>One column of a copied table, as the target names it.</summary>
internal sealed record CopyColumn(string Name, CopiedFrom From = CopiedFrom.SameColumn);

/// <summary>A table the copy moves, its columns in the order they are read and written.</summary>
internal sealed record CopyTable(string Name, IReadOnlyList<CopyColumn> Columns)
{
    /// <summary>The target's own rows are replaced (the installation row its migration made), not refused as "not empty".</summary>
    public bool ReplacesTargetRows { get; init; }

    /// <summary>The columns read from the source and written to the target, in that order (<see cref="CopiedFrom.Cleared"/> left out).</summary>
    public IReadOnlyList<CopyColumn> Written { get; } = [.. Columns.Where(c => c.From != CopiedFrom.Cleared)];

    /// <summary>The columns the source has.</summary>
    public IEnumerable<string> SourceColumns => Columns.Where(c => c.From != CopiedFrom.LastSequence).Select(c => c.Name);
}

/// <summary>
/// What <c>freescout-rules storage copy</c> moves from a SQLite data directory to a PostgreSQL database (issue 22), in
/// one place: every table of both schemas is either copied, column by column, or named here as not copied, with why.
/// A column or table added to either schema without this map knowing fails <c>StoreCopyMapTests</c>, and the copy itself
/// refuses to run (<see cref="Mismatches"/>). Tables are listed in the order they are copied (referenced tables first).
/// </summary>
internal static class StoreCopyMap
{
    public static IReadOnlyList<CopyTable> Tables { get; } =
    [
        // The installation's id, part of every new intent's idempotency key: the same on the target, so keys stay one family.
        new("installation", Same("id", "installation_id")) { ReplacesTargetRows = true },
        new("rule_generations", Same("id", "content_hash", "loaded_at", "outcome", "rules", "diagnostics")),
        new("deliveries", Same(
            "id", "event", "body_sha256", "conversation_id", "seq", "received_at", "outcome", "attempts", "last_error", "processed_at", "result",
            "rules_generation", "rule_failures")),
        // Bodies as stored: the compressed bytes and their encoding, byte for byte.
        new("delivery_bodies", Same("delivery_id", "body", "encoding")),
        new("conversations",
        [
            new("id"), new("last_seq", CopiedFrom.LastSequence), new("last_applied_seq"), new("status"), new("updated_at"),
            new("claim_instance", CopiedFrom.Cleared),
            // The epoch is a counter, not a holding: kept, so that it never goes back.
            new("claim_epoch"),
        ]),
        new("status_changes", Same("id", "delivery_id", "conversation_id", "number", "from_status", "to_status", "via", "at")),
        new("action_intents",
        [
            .. Same(
                "id", "delivery_id", "conversation_id", "rule", "action", "arguments", "state", "created_at", "attempts", "next_attempt_at",
                "last_error", "completed_at", "retry_base", "retried_at", "secret_places", "idempotency_key", "destination"),
            new("claim_instance", CopiedFrom.Cleared), new("claim_token", CopiedFrom.Cleared), new("claimed_at", CopiedFrom.Cleared),
        ]),
        new("action_attempts", Same("id", "intent_id", "attempt", "started_at", "duration_ms", "outcome", "error")),
        new("timers", Same("conversation_id", "name", "number", "due_at", "state", "rule", "delivery_id", "set_at", "fired_at")),
        new("reconciliation", Same("id", "watermark", "advanced_at")),
    ];

    /// <summary>Tables of both schemas that are not copied, and why. The target must hold none of their rows either.</summary>
    public static IReadOnlyDictionary<string, string> NotCopied { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["instances"] = "the serve processes that ran on the source; the instances on the target join anew",
        ["leases"] = "the named leases those processes held; the first instance on the target takes each",
    };

    /// <summary>Tables only the target (PostgreSQL) has, with why nothing goes into them.</summary>
    public static IReadOnlyDictionary<string, string> TargetOnly { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["data_protection_keys"] = "the console's sign-in keys the instances share, made by them on PostgreSQL; SQLite keeps its own as files in console-keys/, so people sign in again",
    };

    /// <summary>
    /// What the map does not know of the two schemas as they are (<paramref name="source"/>, <paramref name="target"/>: each
    /// table's columns): a table or column of either that it neither copies nor names, or one it names that is not there.
    /// Empty when they fit.
    /// </summary>
    public static IReadOnlyList<string> Mismatches(
        IReadOnlyDictionary<string, IReadOnlyList<string>> source, IReadOnlyDictionary<string, IReadOnlyList<string>> target)
    {
        var problems = new List<string>();
        foreach (var (side, tables) in new[] { ("source", source), ("target", target) })
        {
            var known = Tables.Select(t => t.Name).Concat(NotCopied.Keys).Concat(side == "target" ? TargetOnly.Keys : []).ToHashSet(StringComparer.Ordinal);
            problems.AddRange(tables.Keys.Where(t => !known.Contains(t)).Order(StringComparer.Ordinal).Select(t => $"the {side}'s table {t} is not known to the copy"));
            problems.AddRange(known.Where(t => !tables.ContainsKey(t)).Order(StringComparer.Ordinal).Select(t => $"the {side} has no table {t}"));
        }

        foreach (var table in Tables)
        {
            Compare("source", table.Name, table.SourceColumns, source.GetValueOrDefault(table.Name), problems);
            Compare("target", table.Name, table.Columns.Select(c => c.Name), target.GetValueOrDefault(table.Name), problems);
        }

        return problems;
    }

    private static void Compare(string side, string table, IEnumerable<string> expected, IReadOnlyList<string>? actual, List<string> problems)
    {
        if (actual is null)
        {
            return; // said above
        }

        var wanted = expected.ToList();
        problems.AddRange(actual.Except(wanted, StringComparer.Ordinal).Select(c => $"the {side}'s column {table}.{c} is not known to the copy"));
        problems.AddRange(wanted.Except(actual, StringComparer.Ordinal).Select(c => $"the {side} has no column {table}.{c}"));
    }

    private static CopyColumn[] Same(params string[] names) => [.. names.Select(n => new CopyColumn(n))];
}

/// <summary>
/// A store being copied from (<c>storage copy</c>): held so that nothing writes it meanwhile, read in one snapshot, each
/// table streamed row by row (never a whole table in memory).
/// </summary>
internal interface IStoreCopySource : IAsyncDisposable
{
    /// <summary>Where it is (the database file), for messages.</summary>
    string Location { get; }

    /// <summary>Every table the source has, with its columns.</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> ColumnsAsync(CancellationToken cancellationToken);

    /// <summary>How many rows <see cref="ReadAsync"/> returns for <paramref name="table"/>.</summary>
    Task<long> CountAsync(CopyTable table, CancellationToken cancellationToken);

    /// <summary>The rows of <paramref name="table"/>: its <see cref="CopyTable.Written"/> columns, in that order, streamed.</summary>
    Task<DbDataReader> ReadAsync(CopyTable table, CancellationToken cancellationToken);
}

/// <summary>Progress of a copy: <paramref name="Rows"/> of <paramref name="Table"/> written so far, in <paramref name="Elapsed"/>; <paramref name="Done"/> once the table is.</summary>
internal sealed record StoreCopyProgress(string Table, long Rows, TimeSpan Elapsed, bool Done);

/// <summary>A table's rows in the source and in the target before the copy committed (they are equal: else nothing was committed).</summary>
internal sealed record CopiedCount(string Table, long Source, long Target);

/// <summary>A copy committed: what it moved, the installation's id (the same as the source's), the identity sequences' next values.</summary>
internal sealed record StoreCopyReport(
    string Source, string Target, string InstallationId, IReadOnlyList<CopiedCount> Counts, IReadOnlyDictionary<string, long> NextIds, TimeSpan Elapsed);

/// <summary>Why a copy did not run or did not commit (nothing was written to the target either way).</summary>
internal enum StoreCopyFailure
{
    /// <summary>The target is not a database to copy into: not empty, or the connection string is not one.</summary>
    BadTarget,

    /// <summary>The copy could not run or commit: a schema the copy does not know, rows the target refused, counts that differ.</summary>
    Failed,
}

/// <summary>A copy refused or failed; the target is as it was before (its schema created, if it had none).</summary>
internal sealed class StoreCopyException(string message, StoreCopyFailure failure, Exception? inner = null) : Exception(message, inner)
{
    public StoreCopyFailure Failure { get; } = failure;
}
