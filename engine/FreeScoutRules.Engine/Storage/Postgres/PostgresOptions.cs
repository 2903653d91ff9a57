namespace FreeScoutRules.Engine.Storage.Postgres;

/// <summary>
/// How the PostgreSQL store reaches its database (with <c>Storage:Provider</c> = <c>postgres</c>): the connection string
/// <c>ConnectionStrings:Postgres</c> (environment <c>ConnectionStrings__Postgres</c>). It may hold a password: it is
/// never logged or printed (messages name host, port and database); Npgsql's <c>Passfile</c> keeps the password out of
/// it altogether (docs/deploy.md, "PostgreSQL").
/// </summary>
internal sealed class PostgresOptions
{
    /// <summary>Where the connection string is read from (<c>ConnectionStrings:Postgres</c>).</summary>
    public const string ConnectionStringName = "Postgres";

    /// <summary>The Npgsql connection string; <c>null</c> when not configured.</summary>
    public string? ConnectionString { get; set; }
}
