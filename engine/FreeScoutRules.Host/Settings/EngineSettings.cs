using FluentValidation;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;

namespace FreeScoutRules.Host.Settings;

/// <summary>
/// The settings a CLI verb evaluates with, read and validated as <c>serve</c> reads them
/// (<see cref="AppConfiguration"/>, the same validators): storage, rules and the evaluation pipeline's.
/// </summary>
internal sealed record EngineSettings(StorageOptions Storage, RulesOptions Rules, DispatchOptions Dispatch, AdminOptions Admin, Engine.Actions.SecretStore Secrets)
{
    /// <summary>The SQLite store's own settings (the <c>Storage</c> section), to open a server's database for reading.</summary>
    public Engine.Storage.Sqlite.SqliteOptions Sqlite { get; init; } = new();

    /// <summary>The PostgreSQL store's connection string (<c>ConnectionStrings:Postgres</c>), with <c>Storage:Provider</c> = <c>postgres</c>.</summary>
    public Engine.Storage.Postgres.PostgresOptions Postgres { get; init; } = new();

    public PipelineSettings Pipeline => Dispatch.PipelineSettings(Calendars);

    /// <summary>The business calendars (<c>Calendars:NAME</c>), as <c>serve</c> has them.</summary>
    public FreeScoutRules.Timers.IBusinessCalendars Calendars { get; init; } = Engine.Timers.BusinessCalendars.Empty;

    public RuleDiagnosticSeverities Severities => RuleDiagnosticSeverities.With(Rules.Severity!);

    /// <summary>
    /// What rules are checked against, as <c>serve</c> checks them: the configured secrets and calendars, whether the bot
    /// user is set, and, given <paramref name="plugins"/>, their actions (without them, actions are not checked).
    /// </summary>
    public RuleChecks Checks(Engine.Plugins.PluginSet? plugins = null) =>
        plugins?.Checks(Secrets.Names, Calendars.Names, FreeScout.Connection(), Dispatch.BotUserId is not null)
        ?? new RuleChecks(Secrets: Secrets.Names, Calendars: Calendars.Names, BotUserIdSet: Dispatch.BotUserId is not null);

    /// <summary>The FreeScout connection (<c>FreeScout:*</c>), as <c>serve</c> has it.</summary>
    public Engine.FreeScoutApi.FreeScoutOptions FreeScout { get; init; } = new();

    /// <summary>Where the server listens (<c>urls</c>, as <c>serve --urls</c>), if set: the CLI's way to reach it.</summary>
    public string? Urls { get; init; }

    /// <summary>
    /// Reads the settings with <paramref name="flags"/> on top; a bad setting is printed on
    /// <paramref name="error"/> as <c>configuration: Section:Key: problem</c> and yields <c>null</c>.
    /// </summary>
    public static EngineSettings? Load(IReadOnlyDictionary<string, string?> flags, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var configuration = AppConfiguration.Build(flags);
        var failures = new List<string>();
        var freeScout = Bind<Engine.FreeScoutApi.FreeScoutOptions, FreeScoutOptionsValidator>(configuration, Engine.FreeScoutApi.FreeScoutOptions.Section, failures);
        var dispatch = Bind<DispatchOptions, DispatchOptionsValidator>(configuration, DispatchOptions.Section, failures);
        dispatch.BotUserId ??= freeScout.BotUserId; // as serve does
        var rules = Bind<RulesOptions, RulesOptionsValidator>(configuration, RulesOptions.Section, failures);
        rules.ReadDirectoryOptional(configuration);
        var storage = Bind<StorageOptions, StorageOptionsValidator>(configuration, StorageOptions.Section, failures);
        var postgres = new Engine.Storage.Postgres.PostgresOptions
        {
            ConnectionString = configuration.GetConnectionString(Engine.Storage.Postgres.PostgresOptions.ConnectionStringName),
        };
        if (PostgresOptionsValidation.Problem(storage, postgres) is { } postgresProblem)
        {
            failures.Add(postgresProblem);
        }

        var settings = new EngineSettings(
            storage,
            rules,
            dispatch,
            Bind<AdminOptions, AdminOptionsValidator>(configuration, AdminOptions.Section, failures),
            ReadSecrets(configuration, failures))
        {
            Urls = configuration["urls"],
            Sqlite = Bind<Engine.Storage.Sqlite.SqliteOptions, SqliteOptionsValidator>(configuration, StorageOptions.Section, failures),
            Postgres = postgres,
            FreeScout = freeScout,
            Calendars = ReadCalendars(configuration, failures),
        };
        foreach (var failure in failures)
        {
            error.WriteLine($"configuration: {failure}");
        }

        return failures.Count == 0 ? settings : null;
    }

    private static Engine.Timers.BusinessCalendars ReadCalendars(IConfiguration configuration, List<string> failures)
    {
        var calendars = new CalendarsOptions();
        calendars.ReadFrom(configuration);
        var problems = new CalendarsOptionsValidator().Validate(null, calendars);
        if (problems.Failed)
        {
            failures.AddRange(problems.Failures);
            return Engine.Timers.BusinessCalendars.Empty;
        }

        return calendars.ToCalendars();
    }

    /// <summary>The secrets (<c>Secrets:NAME</c>), as <c>serve</c> has them: their names for FSR0007, their values for <c>test --plugins</c>.</summary>
    private static Engine.Actions.SecretStore ReadSecrets(IConfiguration configuration, List<string> failures)
    {
        var secrets = SecretsOptions.From(configuration);
        failures.AddRange(new SecretsOptionsValidator().Validate(secrets).Errors.Select(e => $"{SecretsOptions.Section}: {e.ErrorMessage}"));
        return new Engine.Actions.SecretStore(secrets.Values);
    }

    private static T Bind<T, TValidator>(IConfiguration configuration, string section, List<string> failures)
        where T : class, new()
        where TValidator : IValidator<T>, new()
    {
        var options = new T();
        try
        {
            configuration.GetSection(section).Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            failures.Add($"{section}: {ex.GetBaseException().Message}");
            return options;
        }

        failures.AddRange(new TValidator().Validate(options).Errors.Select(e => $"{section}:{e.PropertyName}: {e.ErrorMessage}"));
        return options;
    }
}
