using Npgsql;
using NpgsqlTypes;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// Typed parameters for the store's statements (every value is a parameter, never text in the SQL), and the readers'
/// conversions. Times are Unix milliseconds in <c>bigint</c>, as in the schema.
/// </summary>
internal static class Parameters
{
    public static NpgsqlParameterCollection Bigint(this NpgsqlParameterCollection parameters, string name, long? value) =>
        parameters.Typed(name, NpgsqlDbType.Bigint, value);

    public static NpgsqlParameterCollection Time(this NpgsqlParameterCollection parameters, string name, DateTimeOffset? value) =>
        parameters.Typed(name, NpgsqlDbType.Bigint, value?.ToUnixTimeMilliseconds());

    public static NpgsqlParameterCollection Integer(this NpgsqlParameterCollection parameters, string name, int? value) =>
        parameters.Typed(name, NpgsqlDbType.Integer, value);

    public static NpgsqlParameterCollection Double(this NpgsqlParameterCollection parameters, string name, double value) =>
        parameters.Typed(name, NpgsqlDbType.Double, value);

    public static NpgsqlParameterCollection Text(this NpgsqlParameterCollection parameters, string name, string? value) =>
        parameters.Typed(name, NpgsqlDbType.Text, value);

    public static NpgsqlParameterCollection Bytea(this NpgsqlParameterCollection parameters, string name, byte[]? value) =>
        parameters.Typed(name, NpgsqlDbType.Bytea, value);

    public static NpgsqlParameterCollection Boolean(this NpgsqlParameterCollection parameters, string name, bool value) =>
        parameters.Typed(name, NpgsqlDbType.Boolean, value);

    public static NpgsqlParameterCollection Integers(this NpgsqlParameterCollection parameters, string name, int[] values) =>
        parameters.Typed(name, NpgsqlDbType.Array | NpgsqlDbType.Integer, values);

    public static NpgsqlParameterCollection Bigints(this NpgsqlParameterCollection parameters, string name, long[] values) =>
        parameters.Typed(name, NpgsqlDbType.Array | NpgsqlDbType.Bigint, values);

    public static NpgsqlParameterCollection Texts(this NpgsqlParameterCollection parameters, string name, string[] values) =>
        parameters.Typed(name, NpgsqlDbType.Array | NpgsqlDbType.Text, values);

    /// <summary>A conversation's claim: <c>@conversation</c>, <c>@instance</c> and <c>@epoch</c> (the fence's, and the release's).</summary>
    public static NpgsqlParameterCollection Claim(this NpgsqlParameterCollection parameters, ConversationClaim claim) =>
        parameters.Integer("conversation", claim.ConversationId).Bigint("instance", claim.InstanceId).Bigint("epoch", claim.Epoch);

    /// <summary>A <c>bigint</c> column of Unix milliseconds as a time; <c>null</c> for SQL NULL.</summary>
    public static DateTimeOffset? TimeOrNull(this NpgsqlDataReader reader, int column) =>
        reader.IsDBNull(column) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(column));

    public static DateTimeOffset Time(this NpgsqlDataReader reader, int column) => DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(column));

    public static string? TextOrNull(this NpgsqlDataReader reader, int column) => reader.IsDBNull(column) ? null : reader.GetString(column);

    public static long? BigintOrNull(this NpgsqlDataReader reader, int column) => reader.IsDBNull(column) ? null : reader.GetInt64(column);

    private static NpgsqlParameterCollection Typed(this NpgsqlParameterCollection parameters, string name, NpgsqlDbType type, object? value)
    {
        parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        return parameters;
    }
}
