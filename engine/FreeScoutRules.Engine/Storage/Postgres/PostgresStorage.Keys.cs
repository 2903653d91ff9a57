using Npgsql;

namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>The console's data-protection keys, shared by the instances (<see cref="ISharedKeys"/>), stored as the host encrypted them.</summary>
internal sealed partial class PostgresStorage : ISharedKeys
{
    // Called by ASP.NET Core's key manager, whose repository is synchronous; rarely (at start, and when its ring is refreshed).
    public IReadOnlyList<string> LoadKeys() =>
        ReadAsync<IReadOnlyList<string>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT xml FROM data_protection_keys ORDER BY stored_at, name", connection);
                var keys = new List<string>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    keys.Add(reader.GetString(0));
                }

                return keys;
            },
            CancellationToken.None).GetAwaiter().GetResult();

    public void StoreKey(string name, string xml)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(xml);
        var now = _time.GetUtcNow();
        WriteAsync(
            async (transaction, ct) =>
            {
                await using var store = transaction.Command("INSERT INTO data_protection_keys (name, xml, stored_at) VALUES (@name, @xml, @at) ON CONFLICT (name) DO NOTHING");
                store.Parameters.Text("name", name).Text("xml", xml).Time("at", now);
                return await store.ExecuteNonQueryAsync(ct);
            },
            CancellationToken.None).GetAwaiter().GetResult();
    }
}
