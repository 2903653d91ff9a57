using FreeScoutRules.Engine.Storage;
using Microsoft.Data.Sqlite;

namespace FreeScoutRules.Engine.Tests.Storage.Sqlite;

/// <summary>
/// Another process on the same store, as several instances share one PostgreSQL database (issue 22). SQLite's join ends
/// every other instance's lease (one process holds a data directory), so a second live instance is written here, beside
/// the running writer, as that other process's join would write it.
/// </summary>
internal static class SharedStore
{
    /// <summary>Joins a live instance named <paramref name="name"/> whose lease lasts until <paramref name="expiresAt"/>, leaving every other one as it is.</summary>
    public static async Task<InstanceLease> JoinAnotherAsync(string dataDirectory, string name, DateTimeOffset now, DateTimeOffset expiresAt)
    {
        await using var connection = new SqliteConnection($"Data Source={new StorageOptions { DataDirectory = dataDirectory }.DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO instances (name, started_at, renewed_at, expires_at) VALUES ($name, $at, $at, $expires) RETURNING id";
        insert.Parameters.AddWithValue("$name", name);
        insert.Parameters.AddWithValue("$at", now.ToUnixTimeMilliseconds());
        insert.Parameters.AddWithValue("$expires", expiresAt.ToUnixTimeMilliseconds());
        return new InstanceLease((long)(await insert.ExecuteScalarAsync())!, name);
    }
}
