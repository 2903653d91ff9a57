using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Npgsql;

namespace FreeScoutRules.Engine.Tests.Storage.Postgres;

/// <summary>
/// Judges a plan PostgreSQL executed on the large database (the JSON of <c>EXPLAIN (FORMAT JSON)</c>, as
/// <c>auto_explain</c> logs it): what in it walks a large table, as <c>PlanCheck</c> judges SQLite's. A plan node is a
/// problem when, on one of <see cref="LargePostgresDatabaseFixture.LargeTables"/>, it
/// <list type="bullet">
/// <item>reads it sequentially (<c>Seq Scan</c>: every row);</item>
/// <item>reads one of its indexes without a bound (an <c>Index Scan</c>, <c>Index Only Scan</c> or <c>Bitmap Index Scan</c>
/// without <c>Index Cond</c>: every entry, in the index's order), or with a bound that only excludes NULL; unless a
/// <c>Limit</c> right above it stops it and it filters nothing out (<c>MAX(id)</c>, the newest page), or the index is
/// partial and its predicate holds for at most a tenth of the table (the pending timers);</item>
/// <item>looks rows up by equality on index columns that, for some value in this database, match more than a tenth of the
/// table (among the rows of a partial index's predicate). A value written in the statement (<c>outcome = 'pending'</c>) is
/// judged by its own rows; a parameter or another table's column by the most rows any value has.</item>
/// </list>
/// A range alone (<c>received_at &gt;= $1</c>) is not judged: its width is in its values. Nor is a sort: it sorts what a
/// node below it read, which is judged.
/// </summary>
internal sealed partial class PostgresPlanCheck
{
    /// <summary>A lookup by equality matching more than this share of its table is a walk of the table.</summary>
    private const double WideShare = 0.10;

    private readonly LargePostgresDatabaseFixture _database;
    private readonly Dictionary<string, IndexInfo> _indexes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _rows = new(StringComparer.Ordinal);

    public PostgresPlanCheck(LargePostgresDatabaseFixture database)
    {
        _database = database;
        using var connection = new NpgsqlConnection(database.ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand(
            """
            SELECT i.relname, t.relname, x.indisunique, pg_get_expr(x.indpred, x.indrelid),
                   ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY AS k (attnum, n)
                         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace s ON s.oid = t.relnamespace WHERE s.nspname = 'public'
            """,
            connection);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            _indexes[reader.GetString(0)] = new IndexInfo(reader.GetString(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetFieldValue<string[]>(4));
        }
    }

    private sealed record IndexInfo(string Table, bool Unique, string? Predicate, string[] Columns);

    /// <summary>What in the plan whose root is <paramref name="plan"/> walks a large table, one line each; empty when nothing does.</summary>
    public List<string> Problems(JsonObject plan)
    {
        var problems = new List<string>();
        foreach (var (node, parent) in Nodes(plan, null))
        {
            var type = Text(node, "Node Type");
            var index = Text(node, "Index Name");
            var table = Text(node, "Relation Name") ?? (index is not null && _indexes.TryGetValue(index, out var info) ? info.Table : null);
            if (table is null || !LargePostgresDatabaseFixture.LargeTables.Contains(table))
            {
                continue;
            }

            if (type == "Seq Scan")
            {
                problems.Add($"walks all of {table}: {Line(node)}");
            }
            else if (type is "Index Scan" or "Index Only Scan" or "Bitmap Index Scan" && index is not null)
            {
                var condition = Text(node, "Index Cond");
                var terms = condition is null ? [] : Terms(condition);
                if (terms.Count == 0 || terms.All(t => t.Operator == "IS NOT NULL"))
                {
                    var limited = parent is not null && Text(parent, "Node Type") == "Limit" && node["Filter"] is null;
                    var held = _indexes[index].Predicate is { } predicate ? _database.Widest(table, [], predicate) : (long?)null;
                    if (!limited && (held is null || held > WideShare * Rows(table)))
                    {
                        problems.Add(terms.Count == 0
                            ? $"walks all of the index {index} of {table}{(held is { } rows ? $" ({rows:N0} rows)" : "")}, no bound: {Line(node)}"
                            : $"walks the entries of {table} that have a value: {Line(node)}");
                    }
                }
                else if (Wide(index, terms) is { } wide)
                {
                    problems.Add($"looks up {wide:N0} rows of {table} by one value: {Line(node)}");
                }
            }
        }

        return problems;
    }

    /// <summary>How many rows the equality lookup may match when that is over a tenth of the table; otherwise <c>null</c>.</summary>
    private long? Wide(string index, List<Term> terms)
    {
        var info = _indexes[index];
        var equal = terms.Where(t => t.Operator is "=" or "= ANY").ToList();
        if (equal.Count == 0 || (info.Unique && info.Columns.All(c => equal.Any(t => t.Column == c))))
        {
            return null;
        }

        var conditions = new List<string>();
        var grouped = new List<string>();
        foreach (var term in equal.DistinctBy(t => t.Column))
        {
            if (Regex.Match(term.Value, @"^'(?<value>[^']*)'(::\w+)?$") is { Success: true } literal)
            {
                conditions.Add($"{term.Column} = '{literal.Groups["value"].Value}'");
            }
            else
            {
                grouped.Add(term.Column);
            }
        }

        if (info.Predicate is not null)
        {
            conditions.Add($"({info.Predicate})");
        }

        var widest = _database.Widest(info.Table, grouped, conditions.Count == 0 ? null : string.Join(" AND ", conditions));
        return widest > WideShare * Rows(info.Table) ? widest : null;
    }

    private long Rows(string table)
    {
        if (!_rows.TryGetValue(table, out var rows))
        {
            _rows[table] = rows = _database.Scalar<long>(_database.ConnectionString, $"SELECT COUNT(*) FROM {table}");
        }

        return rows;
    }

    private sealed record Term(string Column, string Operator, string Value);

    /// <summary>The terms of an index condition, <c>((a = $1) AND (b &gt; $2))</c>: column, operator, what it is compared with.</summary>
    private static List<Term> Terms(string condition)
    {
        var terms = new List<Term>();
        foreach (var part in Split(Unwrap(condition)))
        {
            var match = Regex.Match(Unwrap(part), @"^(?:\w+\.)?(?<column>\w+)\s*(?<op>= ANY|IS NOT NULL|IS NULL|<>|>=|<=|=|<|>)\s*(?<value>.*)$");
            if (match.Success)
            {
                terms.Add(new Term(match.Groups["column"].Value, match.Groups["op"].Value, Unwrap(match.Groups["value"].Value.Trim())));
            }
        }

        return terms;
    }

    /// <summary>The parts of a condition joined by <c>AND</c> at its top level.</summary>
    private static IEnumerable<string> Split(string condition)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < condition.Length; i++)
        {
            depth += condition[i] switch { '(' => 1, ')' => -1, _ => 0 };
            if (depth == 0 && string.CompareOrdinal(condition, i, " AND ", 0, 5) == 0)
            {
                yield return condition[start..i];
                start = i + 5;
            }
        }

        yield return condition[start..];
    }

    /// <summary>The text without the parentheses that enclose all of it.</summary>
    private static string Unwrap(string text)
    {
        text = text.Trim();
        while (text.Length >= 2 && text[0] == '(' && Closing(text) == text.Length - 1)
        {
            text = text[1..^1].Trim();
        }

        return text;
    }

    private static int Closing(string text)
    {
        var depth = 0;
        for (var i = 0; i < text.Length; i++)
        {
            depth += text[i] switch { '(' => 1, ')' => -1, _ => 0 };
            if (depth == 0)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Every node of the plan, with its parent.</summary>
    private static IEnumerable<(JsonObject Node, JsonObject? Parent)> Nodes(JsonObject node, JsonObject? parent)
    {
        yield return (node, parent);
        if (node["Plans"] is JsonArray children)
        {
            foreach (var child in children.OfType<JsonObject>())
            {
                foreach (var descendant in Nodes(child, node))
                {
                    yield return descendant;
                }
            }
        }
    }

    private static string? Text(JsonObject node, string name) => node[name] is JsonValue value ? value.ToString() : null;

    /// <summary>One node as a line: its type, table or index, conditions.</summary>
    private static string Line(JsonObject node)
    {
        var line = new StringBuilder(Text(node, "Node Type"));
        if (Text(node, "Index Name") is { } index)
        {
            line.Append(" using ").Append(index);
        }

        if (Text(node, "Relation Name") is { } table)
        {
            line.Append(" on ").Append(table);
        }

        foreach (var name in new[] { "Index Cond", "Recheck Cond", "Filter", "Sort Key", "Hash Cond", "Join Filter" })
        {
            if (node[name] is { } value)
            {
                line.Append(' ').Append(name).Append(": ").Append(value is JsonArray array ? string.Join(", ", array.Select(v => v!.ToString())) : value.ToString());
            }
        }

        return line.ToString();
    }

    /// <summary>The plan as indented lines, one a node (for messages, and to tell plans apart).</summary>
    public static string Render(JsonObject plan, string indent = "")
    {
        var text = new StringBuilder();
        void Add(JsonObject node, int depth)
        {
            text.Append(indent).Append(' ', depth * 2).AppendLine(Line(node));
            if (node["Plans"] is JsonArray children)
            {
                foreach (var child in children.OfType<JsonObject>())
                {
                    Add(child, depth + 1);
                }
            }
        }

        Add(plan, 0);
        return text.ToString().TrimEnd();
    }
}
