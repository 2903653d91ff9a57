namespace FreeScoutRules.Engine.Storage.Sqlite;

/// <summary>Reads of instances and named leases. Thread-safe.</summary>
internal sealed class LeaseQueries(SqliteDatabase database)
{
    public async Task<IReadOnlyList<InstanceRecord>> ListInstancesAsync(DateTimeOffset since, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, name, started_at, renewed_at, expires_at, left_at, rules_generation FROM instances WHERE renewed_at >= $since ORDER BY id DESC LIMIT 100";
        command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        var instances = new List<InstanceRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var expires = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4));
            DateTimeOffset? left = reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5));
            instances.Add(new InstanceRecord(
                reader.GetInt64(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)), expires, left, left is null && expires > now)
            {
                RulesGeneration = reader.IsDBNull(6) ? null : reader.GetString(6),
            });
        }

        return instances;
    }

    public async Task<IReadOnlyList<NamedLease>> ListLeasesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, instance_id, epoch, expires_at FROM leases ORDER BY name";
        var leases = new List<NamedLease>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            leases.Add(new NamedLease(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
        }

        return leases;
    }
}
