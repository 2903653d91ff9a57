using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace FreeScoutRules.Engine.Tests.Architecture;

/// <summary>
/// The architecture as documented (docs/design.md): in every project, folders (namespaces) depend one way, and SQLite
/// stays in its folder. Each project's sources are compiled with Roslyn (against the built assemblies it references) and
/// every reference from code in one namespace to a type of another of the same project is an edge; the edges must form
/// no cycle. A failure names the cycle and, for each edge, where it is made.
/// </summary>
public sealed partial class FolderDependencyTests
{
    private static readonly string Root = FindRoot();

    /// <summary>What of the SQLite store may be named outside its folder.</summary>
    private static readonly string[] SqliteEntryPoints = ["SqliteStorageModule", "SqliteOptions"];

    public static TheoryData<string, string, string> Projects => new()
    {
        { "engine/FreeScoutRules.Abstractions", "FreeScoutRules.Abstractions", "FreeScoutRules" },
        { "engine/FreeScoutRules.Engine", "FreeScoutRules.Engine", "FreeScoutRules.Engine" },
        { "engine/FreeScoutRules.Host", "freescout-rules", "FreeScoutRules.Host" },
    };

    [Theory]
    [MemberData(nameof(Projects))]
    public void Folders_DependOneWay(string project, string assemblyName, string rootNamespace)
    {
        var edges = Edges(project, assemblyName, rootNamespace);
        var cycles = Cycles(edges.Keys.SelectMany(e => new[] { e.From, e.To }).Distinct().ToList(), [.. edges.Keys]);

        var report = new StringBuilder();
        foreach (var cycle in cycles)
        {
            report.AppendLine($"{string.Join(" -> ", cycle)} -> {cycle[0]}:");
            for (var i = 0; i < cycle.Count; i++)
            {
                var edge = (cycle[i], cycle[(i + 1) % cycle.Count]);
                if (edges.TryGetValue(edge, out var where))
                {
                    report.AppendLine($"  {edge.Item1} -> {edge.Item2}: {string.Join("; ", where.Take(3))}{(where.Count > 3 ? $" (and {where.Count - 3} more)" : "")}");
                }
            }
        }

        Assert.True(cycles.Count == 0, $"Folders of {project} depend on each other in a loop:\n{report}");
    }

    [Fact]
    public void NoStoreTypeOrSql_OutsideItsStoresFolder_ButItsEntryPoints()
    {
        var problems = new List<string>();
        foreach (var (project, assemblyName, _) in new[] { ("engine/FreeScoutRules.Engine", "FreeScoutRules.Engine", ""), ("engine/FreeScoutRules.Host", "freescout-rules", "") })
        {
            var compilation = Compile(project, assemblyName);
            foreach (var tree in compilation.SyntaxTrees)
            {
                // SQL and each provider's types stay in its store's folder (Storage/Sqlite, Storage/Postgres).
                var path = tree.FilePath.Replace('\\', '/');
                var inSqlite = path.Contains("/Storage/Sqlite/", StringComparison.Ordinal);
                var inPostgres = path.Contains("/Storage/Postgres/", StringComparison.Ordinal);
                if (inSqlite)
                {
                    continue;
                }

                var model = compilation.GetSemanticModel(tree);
                foreach (var node in tree.GetRoot().DescendantNodes())
                {
                    if (node is IdentifierNameSyntax or GenericNameSyntax && model.GetSymbolInfo(node).Symbol is { } symbol
                        && (symbol as ITypeSymbol ?? symbol.ContainingType) is { } type)
                    {
                        if (type.ContainingAssembly?.Name == "Microsoft.Data.Sqlite" || (!inPostgres && type.ContainingAssembly?.Name == "Npgsql"))
                        {
                            problems.Add($"{Where(node)}: {symbol.ToDisplayString()}");
                        }

                        // The store's own types stay in its folder; the rest of the engine and the host name only its entry
                        // points: its module (registration, opening for reading) and its settings.
                        if (type.ContainingNamespace?.ToDisplayString() == "FreeScoutRules.Engine.Storage.Sqlite" && !SqliteEntryPoints.Contains(type.Name))
                        {
                            problems.Add($"{Where(node)}: {type.ToDisplayString()} (only {string.Join(" and ", SqliteEntryPoints)} may be named outside the store's folder)");
                        }
                    }

                    if (!inPostgres && node is LiteralExpressionSyntax or InterpolatedStringTextSyntax && Sql().IsMatch(node.ToString()))
                    {
                        problems.Add($"{Where(node)}: SQL {Shorten(node.ToString())}");
                    }
                }
            }
        }

        Assert.True(problems.Count == 0, $"A store's types or SQL outside its folder (engine/FreeScoutRules.Engine/Storage/Sqlite, Storage/Postgres):\n{string.Join("\n", problems.Distinct())}");
    }

    /// <summary>Every reference from one namespace of the project to another, with where it is made.</summary>
    private static Dictionary<(string From, string To), List<string>> Edges(string project, string assemblyName, string rootNamespace)
    {
        var compilation = Compile(project, assemblyName);
        var edges = new Dictionary<(string, string), List<string>>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var node in tree.GetRoot().DescendantNodes().Where(n => n is SimpleNameSyntax))
            {
                var enclosing = model.GetEnclosingSymbol(node.SpanStart);
                var from = (enclosing as INamespaceSymbol ?? enclosing?.ContainingNamespace)?.ToDisplayString();
                var symbol = model.GetSymbolInfo(node).Symbol;
                var type = symbol as INamedTypeSymbol ?? symbol?.ContainingType;
                if (from is null || type is null || !SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, compilation.Assembly))
                {
                    continue;
                }

                var to = type.ContainingNamespace.ToDisplayString();
                var (fromFolder, toFolder) = (Folder(from, rootNamespace), Folder(to, rootNamespace));
                if (fromFolder is null || toFolder is null || fromFolder == toFolder)
                {
                    continue;
                }

                if (!edges.TryGetValue((fromFolder, toFolder), out var where))
                {
                    edges[(fromFolder, toFolder)] = where = [];
                }

                where.Add($"{Where(node)} ({type.Name})");
            }
        }

        return edges;
    }

    /// <summary>
    /// The folder a namespace is in: its first part after the project's root namespace (the root itself is "(root)"), sub-folders
    /// counted with their folder (OperatorConsole/Pages is the console), except a store's implementations under Storage, each a
    /// folder of its own (Storage/Sqlite depends on the port, Storage, never the other way round).
    /// </summary>
    private static string? Folder(string ns, string rootNamespace)
    {
        if (ns == rootNamespace)
        {
            return "(root)";
        }

        if (!ns.StartsWith(rootNamespace + ".", StringComparison.Ordinal))
        {
            return null;
        }

        var parts = ns[(rootNamespace.Length + 1)..].Split('.');
        return parts[0] == "Storage" && parts.Length > 1 ? $"{parts[0]}.{parts[1]}" : parts[0];
    }

    /// <summary>The strongly connected components with more than one folder (Tarjan), each as a loop through its members.</summary>
    private static List<List<string>> Cycles(List<string> nodes, List<(string From, string To)> edges)
    {
        var next = nodes.ToDictionary(n => n, n => edges.Where(e => e.From == n).Select(e => e.To).Distinct().Order(StringComparer.Ordinal).ToList());
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var components = new List<List<string>>();
        void Visit(string node)
        {
            index[node] = low[node] = index.Count;
            stack.Push(node);
            onStack.Add(node);
            foreach (var to in next[node])
            {
                if (!index.TryGetValue(to, out var seen))
                {
                    Visit(to);
                    low[node] = Math.Min(low[node], low[to]);
                }
                else if (onStack.Contains(to))
                {
                    low[node] = Math.Min(low[node], seen);
                }
            }

            if (low[node] == index[node])
            {
                var component = new List<string>();
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    component.Add(member);
                }
                while (member != node);
                if (component.Count > 1)
                {
                    components.Add(LoopThrough(component, next));
                }
            }
        }

        foreach (var node in nodes.Order(StringComparer.Ordinal))
        {
            if (!index.ContainsKey(node))
            {
                Visit(node);
            }
        }

        return components;
    }

    /// <summary>A shortest loop from the component's first member back to it, for the report.</summary>
    private static List<string> LoopThrough(List<string> component, Dictionary<string, List<string>> next)
    {
        var start = component.Order(StringComparer.Ordinal).First();
        var members = component.ToHashSet();
        var previous = new Dictionary<string, string>();
        var queue = new Queue<string>([start]);
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            foreach (var to in next[node].Where(members.Contains))
            {
                if (to == start)
                {
                    var loop = new List<string> { node };
                    while (loop[0] != start)
                    {
                        loop.Insert(0, previous[loop[0]]);
                    }

                    return loop;
                }

                if (previous.TryAdd(to, node))
                {
                    queue.Enqueue(to);
                }
            }
        }

        return component;
    }

    private static CSharpCompilation Compile(string project, string assemblyName)
    {
        var directory = Path.Combine(Root, project);
        var trees = Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), new CSharpParseOptions(LanguageVersion.Preview), path: f))
            .ToList();
        // The shared frameworks (ASP.NET Core's too, for the host) and every assembly beside the tests.
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var aspNet = Path.Combine(runtime, "..", "..", "Microsoft.AspNetCore.App", Path.GetFileName(runtime));
        var references = new[] { runtime, aspNet, AppContext.BaseDirectory }
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.dll"))
            .Where(f => !string.Equals(Path.GetFileNameWithoutExtension(f), assemblyName, StringComparison.OrdinalIgnoreCase))
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .Select(g => g.First())
            .Select(f => (MetadataReference)MetadataReference.CreateFromFile(f));
        return CSharpCompilation.Create(
            assemblyName, trees, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
    }

    private static string Where(SyntaxNode node)
    {
        var line = node.GetLocation().GetLineSpan();
        return $"{Path.GetRelativePath(Root, line.Path).Replace('\\', '/')}({line.StartLinePosition.Line + 1})";
    }

    private static string Shorten(string text) => text.Length > 60 ? text[..60] + "…" : text;

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "FreeScoutRules.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (FreeScoutRules.sln) is not above the tests.");
    }

    /// <summary>A statement of SQL in a string: a keyword that starts one, followed by what it works on.</summary>
    [GeneratedRegex(@"\b(SELECT\s+[\w*(]|INSERT\s+INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)\b|PRAGMA\s+\w)")]
    private static partial Regex Sql();
}
