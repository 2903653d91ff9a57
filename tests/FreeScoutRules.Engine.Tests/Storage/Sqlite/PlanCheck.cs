using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// Judges a statement's query plan on the large database: what in it walks a large table. A plan row is a problem when,
/// on one of <see cref="LargeDatabaseFixture.LargeTables"/>, it
/// <list type="bullet">
/// <item>scans it (<c>SCAN</c>, with or without an index: every row or every index entry);</item>
/// <item>builds an automatic index or a Bloom filter on it (SQLite found no index and builds one per statement);</item>
/// <item>looks rows up by equality on an index prefix that, for some value in this database, matches more than a tenth of the
/// table (<c>ix_deliveries_event (event=?)</c>: 700,000 deliveries of <c>convo.status</c>), whether a range follows or not. A
/// value written in the statement (<c>state = 'pending'</c>) is judged by its own rows; a parameter by the most rows any value has;</item>
/// <item>walks a range that only excludes NULL (<c>conversation_id IS NOT NULL</c> planned as <c>(conversation_id&gt;?)</c>);</item>
/// <item>sorts or groups in a temporary B-tree (<c>USE TEMP B-TREE</c>) what its query level reads from a large table, unless
/// every large table of that level is read by a narrow lookup (the rowid, or an equality that matches few rows): the sort
/// holds everything the level reads.</item>
/// </list>
/// A range alone (<c>received_at&gt;?</c>) is not judged: its width is in its parameters, which the plan does not show.
/// </summary>
internal sealed partial class PlanCheck(LargeDatabaseFixture database, SqliteConnection connection)
{
    /// <summary>A lookup by equality matching more than this share of its table is a walk of the table.</summary>
    private const double WideShare = 0.10;

    private static readonly HashSet<string> NotAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        "WHERE", "ON", "JOIN", "LEFT", "INNER", "CROSS", "GROUP", "ORDER", "LIMIT", "UNION", "SET", "USING", "INDEXED", "NOT", "AND", "OR",
        "VALUES", "SELECT", "DEFAULT", "RETURNING", "AS", "EXCEPT", "INTERSECT", "HAVING", "WINDOW", "OUTER", "NATURAL",
    };

    private readonly Dictionary<string, long> _rows = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>What in <paramref name="plan"/> walks a large table, one line each; empty when nothing does.</summary>
    public List<string> Problems(string sql, IReadOnlyList<PlanRow> plan)
    {
        var tables = Tables(sql);
        var problems = new List<string>();
        foreach (var row in plan)
        {
            var access = Access().Match(row.Detail);
            var table = access.Success && tables.TryGetValue(access.Groups["name"].Value, out var name) ? name : null;
            if (access.Success && table is not null && IsLarge(table))
            {
                if (access.Groups["kind"].Value == "SCAN")
                {
                    problems.Add($"walks all of {table}: {row.Detail}");
                }
                else if (row.Detail.Contains("AUTOMATIC", StringComparison.Ordinal))
                {
                    problems.Add($"builds an automatic index on {table}: {row.Detail}");
                }
                else if (Wide(sql, table, row.Detail) is { } wide)
                {
                    problems.Add($"looks up {wide:N0} rows of {table} by one value: {row.Detail}");
                }
                else if (NotNull(sql, table, row.Detail) is { } all)
                {
                    problems.Add($"walks the {all:N0} rows of {table} that have a value: {row.Detail}");
                }
            }

            if (Bloom().Match(row.Detail) is { Success: true } bloom && tables.TryGetValue(bloom.Groups["name"].Value, out var filtered) && IsLarge(filtered))
            {
                problems.Add($"builds a Bloom filter on {filtered}: {row.Detail}");
            }

            if (row.Detail.StartsWith("USE TEMP B-TREE", StringComparison.Ordinal))
            {
                var unbounded = plan
                    .Where(r => r.Parent == row.Parent && r != row)
                    .Select(r => (Row: r, Match: Access().Match(r.Detail)))
                    .Where(r => r.Match.Success && tables.TryGetValue(r.Match.Groups["name"].Value, out var t) && IsLarge(t) && !Narrow(sql, t, r.Row.Detail))
                    .Select(r => tables[r.Match.Groups["name"].Value])
                    .Distinct(StringComparer.OrdinalIgnoreCase)
                    .ToList();
                if (unbounded.Count > 0)
                {
                    problems.Add($"sorts what it reads of {string.Join(", ", unbounded)} in a temporary B-tree: {row.Detail}");
                }
            }
        }

        return problems;
    }

    private static bool IsLarge(string table) => LargeDatabaseFixture.LargeTables.Contains(table);

    /// <summary>A narrow lookup: by rowid or primary key, or by an equality that matches few rows.</summary>
    private bool Narrow(string sql, string table, string detail) =>
        detail.Contains("INTEGER PRIMARY KEY (rowid=?)", StringComparison.Ordinal)
        || (detail.StartsWith("SEARCH", StringComparison.Ordinal) && Constraint(detail) is { Equal.Count: > 0 } && Wide(sql, table, detail) is null);

    /// <summary>
    /// How many rows a range that only excludes NULL walks (<c>c IS NOT NULL</c> becomes <c>(c&gt;?)</c>), when that is over a
    /// tenth of the table; otherwise <c>null</c>.
    /// </summary>
    private long? NotNull(string sql, string table, string detail)
    {
        if (Regex.Match(detail, @"\((?<column>\w+)>\?\)$") is not { Success: true } range
            || !Regex.IsMatch(sql, $@"\b{Regex.Escape(range.Groups["column"].Value)} IS NOT NULL", RegexOptions.IgnoreCase)
            || Regex.IsMatch(sql, $@"\b{Regex.Escape(range.Groups["column"].Value)}\s*>", RegexOptions.IgnoreCase))
        {
            return null;
        }

        var rows = database.Widest(table, [], $"{range.Groups["column"].Value} IS NOT NULL");
        return rows > WideShare * Rows(table) ? rows : null;
    }

    /// <summary>How many rows the equality lookup of <paramref name="detail"/> may match when that is over a tenth of the table; otherwise <c>null</c>.</summary>
    private long? Wide(string sql, string table, string detail)
    {
        // A range after the equalities is not counted on: its bounds are parameters (a cursor may start at the end).
        if (detail.Contains("INTEGER PRIMARY KEY", StringComparison.Ordinal) || Constraint(detail) is not { Equal.Count: > 0 } constraint)
        {
            return null;
        }

        var index = IndexName().Match(detail) is { Success: true } named ? named.Groups["index"].Value : null;
        var where = index is null ? null : PartialCondition(index);
        var conditions = new List<string>();
        var grouped = new List<string>();
        foreach (var column in constraint.Equal)
        {
            // A value written in the statement is judged by its own rows.
            if (Regex.Match(sql, $@"(?<![\w.+])(?:\w+\.)?{Regex.Escape(column)}\s*=\s*'(?<value>[^']*)'") is { Success: true } literal)
            {
                conditions.Add($"{column} = '{literal.Groups["value"].Value}'");
            }
            else
            {
                grouped.Add(column == "rowid" ? "rowid" : column);
            }
        }

        if (where is not null)
        {
            conditions.Add($"({where})");
        }

        var widest = database.Widest(table, grouped, conditions.Count == 0 ? null : string.Join(" AND ", conditions));
        return widest > WideShare * Rows(table) ? widest : null;
    }

    private string? PartialCondition(string index)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = $name";
        command.Parameters.AddWithValue("$name", index);
        return command.ExecuteScalar() is string create && create.IndexOf(" WHERE ", StringComparison.OrdinalIgnoreCase) is var at and >= 0
            ? create[(at + " WHERE ".Length)..]
            : null;
    }

    private long Rows(string table)
    {
        if (!_rows.TryGetValue(table, out var rows))
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT COUNT(*) FROM {table}";
            _rows[table] = rows = (long)command.ExecuteScalar()!;
        }

        return rows;
    }

    /// <summary>The columns a lookup constrains by equality, in order, and whether a range follows them.</summary>
    private static (List<string> Equal, bool Ranged)? Constraint(string detail)
    {
        if (Terms().Match(detail) is not { Success: true } terms)
        {
            return null;
        }

        var equal = new List<string>();
        foreach (var term in terms.Groups["terms"].Value.Split(" AND "))
        {
            if (Regex.Match(term, @"^(?<column>\w+)=\?$") is { Success: true } match)
            {
                equal.Add(match.Groups["column"].Value);
            }
            else
            {
                return (equal, true);
            }
        }

        return (equal, false);
    }

    /// <summary>The tables a statement names, by name and by alias.</summary>
    internal static Dictionary<string, string> Tables(string sql)
    {
        var tables = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (Match match in TableReference().Matches(sql))
        {
            var table = match.Groups["table"].Value;
            tables[table] = table;
            if (match.Groups["alias"] is { Success: true } alias && !NotAliases.Contains(alias.Value))
            {
                tables[alias.Value] = table;
            }
        }

        return tables;
    }

    [GeneratedRegex(@"^(?<kind>SCAN|SEARCH) (?<name>\w+)")]
    private static partial Regex Access();

    [GeneratedRegex(@"BLOOM FILTER ON (?<name>\w+)")]
    private static partial Regex Bloom();

    [GeneratedRegex(@"USING (?:COVERING )?INDEX (?<index>\w+)")]
    private static partial Regex IndexName();

    [GeneratedRegex(@"\((?<terms>[^()]*)\)\s*$")]
    private static partial Regex Terms();

    [GeneratedRegex(@"\b(?:FROM|JOIN|UPDATE|INTO)\s+(?<table>[A-Za-z_]\w*)(?:\s+(?:AS\s+)?(?<alias>[A-Za-z_]\w*))?", RegexOptions.IgnoreCase)]
    private static partial Regex TableReference();
}
