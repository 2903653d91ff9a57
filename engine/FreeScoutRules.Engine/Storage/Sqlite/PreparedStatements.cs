using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>
/// A connection with its commands kept by their SQL text: each statement is parsed and planned once per connection,
/// not on every run (a statement's preparation costs more than running the statements the hot paths run).
/// The writer's session (<see cref="WriterSession"/>) and the readers' kept connections (<see cref="ReaderPool"/>) are both.
/// Not thread-safe: one user at a time.
/// </summary>
internal class PreparedStatements(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    public SqliteConnection Connection { get; } = connection;

    /// <summary>
    /// For the statements every delivery runs: a prepared command for <paramref name="sql"/> that keeps
    /// its parameter objects from one run to the next (half the cost of adding them again, measured in
    /// docs/benchmarks.md §9). Set every parameter with <see cref="Set"/> on every run: a value left
    /// out would be the previous run's.
    /// </summary>
    public SqliteCommand Prepared(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        OnUse(command);
        return command;
    }

    /// <summary>Sets parameter <paramref name="name"/> of a <see cref="Prepared"/> command (<c>null</c>: SQL NULL).</summary>
    public static void Set(SqliteCommand command, string name, object? value)
    {
        var parameters = command.Parameters;
        var index = parameters.IndexOf(name);
        if (index < 0)
        {
            parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        else
        {
            parameters[index].Value = value ?? DBNull.Value;
        }
    }

    /// <summary>Called each time a command is handed out (the writer binds it to its transaction).</summary>
    protected virtual void OnUse(SqliteCommand command)
    {
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        Connection.Dispose();
    }
}
