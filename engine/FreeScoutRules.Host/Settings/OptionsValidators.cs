using FluentValidation;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Engine.Retention;
using FreeScoutRules.Engine.Storage;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Settings;

/// <summary>Runs a FluentValidation validator as options validation, so a bad setting stops the start with its message.</summary>
internal sealed class FluentOptionsValidator<T>(IValidator<T> validator, string section) : IValidateOptions<T>
    where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var result = validator.Validate(options);
        return result.IsValid
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(result.Errors.Select(e => $"{section}:{e.PropertyName}: {e.ErrorMessage}"));
    }
}

internal sealed class WebhookOptionsValidator : AbstractValidator<WebhookOptions>
{
    public WebhookOptionsValidator()
    {
        RuleFor(o => o.Secret).NotEmpty().Unless(o => o.InsecureSkipSignature).WithMessage(
            "No webhook secret is configured. Set FREESCOUTRULES_WEBHOOK_SECRET (or Webhook:Secret in appsettings.json) to the "
            + "\"Secret Key\" shown in FreeScout under Manage » Settings » API & Webhooks. For local development only, "
            + "start with --insecure-dev to accept unsigned deliveries.");
        RuleFor(o => o.MaxBodyBytes).InclusiveBetween(1024, 64 * 1024 * 1024)
            .WithMessage("must be between 1 KiB and 64 MiB (got {PropertyValue}).");
        RuleFor(o => o.MaxConcurrentRequests).InclusiveBetween(1, 10_000).WithMessage("must be between 1 and 10000 (got {PropertyValue}).");
        RuleFor(o => o.BodyIdleTimeout).InclusiveBetween(TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5))
            .WithMessage("must be between 100 ms and 5 minutes (got {PropertyValue}).");
        RuleFor(o => o.MaxBufferedBytes).LessThanOrEqualTo(1024L * 1024 * 1024).WithMessage("must be at most 1 GiB (got {PropertyValue}).");
        RuleFor(o => o.MaxBufferedBytes)
            .GreaterThanOrEqualTo(o => ((long)o.MaxConcurrentRequests * WebhookOptions.FirstChunkBytes) + o.MaxBodyBytes)
            .When(o => o.MaxConcurrentRequests is >= 1 and <= 10_000)
            .WithMessage(o => $"must hold the first {WebhookOptions.FirstChunkBytes / 1024} KiB of every request at once "
                + $"(Webhook:MaxConcurrentRequests = {o.MaxConcurrentRequests}) and one body of Webhook:MaxBodyBytes ({o.MaxBodyBytes}): "
                + $"at least {((long)o.MaxConcurrentRequests * WebhookOptions.FirstChunkBytes) + o.MaxBodyBytes} (got {o.MaxBufferedBytes}).");
        RuleForEach(o => o.AllowedSources.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            .Must(IsNetwork).OverridePropertyName("AllowedSources")
            .WithMessage("'{PropertyValue}' is not an IP address or a CIDR range such as 203.0.113.0/24 or 2001:db8::/48.");
    }

    private static bool IsNetwork(string entry)
    {
        try
        {
            _ = WebhookOptions.ParseNetwork(entry);
            return true;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return false;
        }
    }
}

internal sealed class StorageOptionsValidator : AbstractValidator<StorageOptions>
{
    public StorageOptionsValidator()
    {
        RuleFor(o => o.DataDirectory).NotEmpty().WithMessage("the data directory (--data-dir) is required.");
        RuleFor(o => o.Provider)
            .Must(p => string.Equals(p, StorageOptions.Sqlite, StringComparison.OrdinalIgnoreCase) || string.Equals(p, StorageOptions.Postgres, StringComparison.OrdinalIgnoreCase))
            .WithMessage($"must be {StorageOptions.Sqlite} (the embedded default) or {StorageOptions.Postgres} (got '{{PropertyValue}}').");
    }
}

/// <summary>
/// The PostgreSQL store's connection string (<c>ConnectionStrings:Postgres</c>), required and checked when
/// <c>Storage:Provider</c> is <c>postgres</c>; its values are never repeated in the message (it may hold a password).
/// </summary>
internal sealed class PostgresOptionsValidation(IOptions<StorageOptions> storage) : IValidateOptions<Engine.Storage.Postgres.PostgresOptions>
{
    public ValidateOptionsResult Validate(string? name, Engine.Storage.Postgres.PostgresOptions options) =>
        Problem(storage.Value, options) is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;

    /// <summary>What is wrong with the connection string for <paramref name="storage"/>'s provider, as <c>ConnectionStrings:Postgres: …</c>, or <c>null</c>.</summary>
    public static string? Problem(StorageOptions storage, Engine.Storage.Postgres.PostgresOptions options) =>
        storage.IsPostgres && Engine.Storage.Postgres.PostgresStorageModule.ConnectionProblem(options.ConnectionString) is { } problem
            ? $"ConnectionStrings:{Engine.Storage.Postgres.PostgresOptions.ConnectionStringName}: {problem}"
            : null;
}

/// <summary>The SQLite store's own settings, in the <c>Storage</c> section beside the data directory.</summary>
internal sealed class SqliteOptionsValidator : AbstractValidator<Engine.Storage.Sqlite.SqliteOptions>
{
    public SqliteOptionsValidator()
    {
        RuleFor(o => o.MaxBatch).InclusiveBetween(1, 10_000).WithMessage("must be between 1 and 10000 (got {PropertyValue}).");
        RuleFor(o => o.CheckpointPages).InclusiveBetween(10, 100_000).WithMessage("must be between 10 and 100000 (got {PropertyValue}).");
    }
}

internal sealed class DispatchOptionsValidator : AbstractValidator<DispatchOptions>
{
    public DispatchOptionsValidator()
    {
        RuleFor(o => o.Workers).InclusiveBetween(1, 256).WithMessage("must be between 1 and 256 (got {PropertyValue}).");
        RuleFor(o => o.InFlight).InclusiveBetween(1, 4096).WithMessage("must be between 1 and 4096 (got {PropertyValue}).");
        RuleFor(o => o.InFlight).GreaterThanOrEqualTo(o => o.Workers).When(o => o.InFlight is >= 1 and <= 4096)
            .WithMessage(o => $"must be at least Dispatch:Workers ({o.Workers}): only conversations in flight can be evaluated (got {o.InFlight}).");
        RuleFor(o => o.StateCacheSize).GreaterThanOrEqualTo(0).WithMessage("must be 0 or more (got {PropertyValue}).");
        RuleFor(o => o.MaxAttempts).InclusiveBetween(1, 100).WithMessage("must be between 1 and 100 (got {PropertyValue}).");
        RuleFor(o => o.BotUserId).GreaterThan(0).When(o => o.BotUserId is not null).WithMessage("must be a FreeScout user id (got {PropertyValue}).");
        RuleFor(o => o.RuleActionLimit).InclusiveBetween(1, 100_000).WithMessage("must be between 1 and 100000 (got {PropertyValue}).");
        RuleFor(o => o.RuleActionWindow).InclusiveBetween(TimeSpan.FromSeconds(1), TimeSpan.FromDays(30)).WithMessage("must be between 1 second and 30 days (got {PropertyValue}).");
        RuleFor(o => o.RuleTimeout).InclusiveBetween(TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1))
            .WithMessage("must be between 100 ms and 1 hour (got {PropertyValue}).");
        RuleFor(o => o.RetryDelay).InclusiveBetween(TimeSpan.Zero, TimeSpan.FromHours(1)).WithMessage("must be between 0 and 1 hour (got {PropertyValue}).");
        RuleFor(o => o.MaxClaims).InclusiveBetween(1, 100_000).WithMessage("must be between 1 and 100000 (got {PropertyValue}).");
        RuleFor(o => o.SweepInterval).InclusiveBetween(TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10))
            .WithMessage("must be between 10 ms and 10 minutes (got {PropertyValue}).");
        RuleFor(o => o.LeaseTime).InclusiveBetween(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10))
            .WithMessage("must be between 1 second and 10 minutes (got {PropertyValue}): another instance takes a dead one's work over this long after its last renewal.");
    }
}

internal sealed class LeaseOptionsValidator : AbstractValidator<Engine.Instances.LeaseOptions>
{
    public LeaseOptionsValidator()
    {
        RuleFor(o => o.Time).InclusiveBetween(TimeSpan.FromSeconds(1), TimeSpan.FromHours(1))
            .WithMessage("must be between 1 second and 1 hour (got {PropertyValue}): a holder renews every quarter of it, and one that cannot stops its work at its end.");
    }
}

internal sealed class AdminOptionsValidator : AbstractValidator<AdminOptions>
{
    public AdminOptionsValidator()
    {
        RuleFor(o => o.Token).Custom((token, context) =>
        {
            if (!string.IsNullOrEmpty(token) && TokenStrength.Problem(token, "the admin token (FREESCOUTRULES_ADMIN_TOKEN)") is { } problem)
            {
                context.AddFailure(problem);
            }
        });
        RuleFor(o => o.Throttle.Burst).InclusiveBetween(1, 1000).OverridePropertyName("Throttle:Burst")
            .WithMessage("must be between 1 and 1000 wrong tokens (got {PropertyValue}).");
        RuleFor(o => o.Throttle.Refill).InclusiveBetween(TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)).OverridePropertyName("Throttle:Refill")
            .WithMessage("must be between 100 ms and 1 hour (got {PropertyValue}).");
    }
}

internal sealed class ObservabilityOptionsValidator : AbstractValidator<ObservabilityOptions>
{
    public ObservabilityOptionsValidator()
    {
        RuleFor(o => o.MetricsToken).Custom((token, context) =>
        {
            if (!string.IsNullOrEmpty(token) && TokenStrength.Problem(token, "the metrics token (FREESCOUTRULES_METRICS_TOKEN)") is { } problem)
            {
                context.AddFailure(problem);
            }
        });
    }
}

internal sealed class ConsoleOptionsValidator : AbstractValidator<ConsoleOptions>
{
    public ConsoleOptionsValidator()
    {
        RuleFor(o => o.PublicOrigin).Must((options, _) => options.Origin() is not null).When(o => !string.IsNullOrWhiteSpace(o.PublicOrigin))
            .WithMessage("'{PropertyValue}' is not an origin: give the scheme, host and port people open the console at, such as https://rules.example.com (no path).");
    }
}

/// <summary>
/// <c>Console:KeyEncryptionKey</c>: required with PostgreSQL while the console is on (an admin token is set), since the
/// instances keep the console's keys in the shared database, encrypted with it; as strong as a token, and not the admin token.
/// </summary>
internal sealed class ConsoleKeyValidation(IOptions<StorageOptions> storage, IOptions<AdminOptions> admin) : IValidateOptions<ConsoleOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsoleOptions options) =>
        Problem(options) is { } problem ? ValidateOptionsResult.Fail($"Console:KeyEncryptionKey: {problem}") : ValidateOptionsResult.Success;

    private string? Problem(ConsoleOptions console)
    {
        // The admin settings are read only with PostgreSQL: reading them validates them, and their own failure is theirs to report.
        if (!storage.Value.IsPostgres || admin.Value is not { Token: { Length: > 0 } } configured)
        {
            return null;
        }

        if (string.IsNullOrEmpty(console.KeyEncryptionKey))
        {
            return "is required with Storage:Provider=postgres while the console is on: the instances keep the console's sign-in keys in the "
                + "database, encrypted with it. Set FREESCOUTRULES_CONSOLE_KEY to the same secret on every instance (`freescout-rules token` prints one).";
        }

        if (console.KeyEncryptionKey == configured.Token)
        {
            return "is the admin token; give it a secret of its own (`freescout-rules token` prints one), so that one leaked secret is not both.";
        }

        return TokenStrength.Problem(console.KeyEncryptionKey, "the console key (FREESCOUTRULES_CONSOLE_KEY)");
    }
}

internal sealed class RulesOptionsValidator : AbstractValidator<RulesOptions>
{
    public RulesOptionsValidator()
    {
        RuleFor(o => o.Directory).NotEmpty().WithMessage("the rules folder (--rules) is required.");
        RuleFor(o => o.MaxGenerationSkew).Must(t => t == TimeSpan.Zero || (t >= TimeSpan.FromSeconds(10) && t <= TimeSpan.FromDays(7)))
            .WithMessage("must be 00:00:00 (never) or between 10 seconds and 7 days (got {PropertyValue}).");
        RuleFor(o => o.Severity).Custom((severity, context) =>
        {
            try
            {
                Engine.Rules.RuleDiagnosticSeverities.With(severity!);
            }
            catch (ArgumentException ex)
            {
                context.AddFailure(ex.Message);
            }
        });
    }
}

internal sealed class ActionsOptionsValidator : AbstractValidator<ActionsOptions>
{
    public ActionsOptionsValidator()
    {
        RuleFor(o => o.Concurrency).InclusiveBetween(1, 1024).WithMessage("must be between 1 and 1024 (got {PropertyValue}).");
        RuleFor(o => o.ConcurrencyPerDestination).Must((o, perDestination) => perDestination is null || (perDestination >= 1 && perDestination <= o.Concurrency))
            .WithMessage(o => $"must be between 1 and Actions:Concurrency ({o.Concurrency}) (got {o.ConcurrencyPerDestination}).");
        RuleFor(o => o.MaxAttempts).InclusiveBetween(1, 1000).WithMessage("must be between 1 and 1000 (got {PropertyValue}).");
        RuleFor(o => o.Timeout).InclusiveBetween(TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1)).WithMessage("must be between 10 ms and 1 hour (got {PropertyValue}).");
        RuleFor(o => o.FirstRetryDelay).InclusiveBetween(TimeSpan.Zero, TimeSpan.FromDays(1)).WithMessage("must be between 0 and 1 day (got {PropertyValue}).");
        RuleFor(o => o.MaxDelay).GreaterThanOrEqualTo(o => o.FirstRetryDelay).WithMessage("must not be shorter than Actions:FirstRetryDelay.");
        RuleFor(o => o.PollInterval).InclusiveBetween(TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1)).WithMessage("must be between 10 ms and 1 minute (got {PropertyValue}).");
    }
}

internal sealed class SecretsOptionsValidator : AbstractValidator<SecretsOptions>
{
    public SecretsOptionsValidator()
    {
        // Names only in the messages: a value is never printed.
        RuleForEach(o => o.Values).Must(entry => FreeScoutRules.Actions.Secret.IsValidName(entry.Key))
            .WithMessage((_, entry) => $"'{entry.Key}' is not a secret name: use letters, digits and '_' (so that it can be set from the environment).");
        RuleForEach(o => o.Values).Must(entry => entry.Value.Length > 0)
            .WithMessage((_, entry) => $"the secret '{entry.Key}' is empty.");
    }
}

internal sealed class RetentionOptionsValidator : AbstractValidator<RetentionOptions>
{
    public RetentionOptionsValidator()
    {
        RuleFor(o => o.Bodies).GreaterThanOrEqualTo(TimeSpan.Zero).WithMessage("must be 0 (keep forever) or more (got {PropertyValue}).");
        RuleFor(o => o.Records).GreaterThanOrEqualTo(TimeSpan.Zero).WithMessage("must be 0 (keep forever) or more (got {PropertyValue}).");
        RuleFor(o => o.Bodies).LessThanOrEqualTo(o => o.Records).When(o => o.Records > TimeSpan.Zero)
            .WithMessage(o => $"must not be longer than Retention:Records ({o.Records}), which deletes a delivery with its body (got {o.Bodies}); raise Retention:Records too, or set it to 00:00:00 to keep records forever.");
        RuleFor(o => o.Interval).InclusiveBetween(TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1)).WithMessage("must be between 100 ms and 1 day (got {PropertyValue}).");
        RuleFor(o => o.BatchSize).InclusiveBetween(1, 10_000).WithMessage("must be between 1 and 10000 (got {PropertyValue}).");
        RuleFor(o => o.BatchPause).InclusiveBetween(TimeSpan.Zero, TimeSpan.FromMinutes(1)).WithMessage("must be between 0 and 1 minute (got {PropertyValue}).");
    }
}

internal sealed class FreeScoutOptionsValidator : AbstractValidator<Engine.FreeScoutApi.FreeScoutOptions>
{
    public FreeScoutOptionsValidator()
    {
        // The key is never printed, only whether it is there.
        RuleFor(o => o.Url).Must(url => Engine.FreeScoutApi.FreeScoutOptions.TryParseUrl(url, out _)).When(o => !string.IsNullOrWhiteSpace(o.Url))
            .WithMessage("'{PropertyValue}' is not an http(s) address such as https://support.example.com (FREESCOUTRULES_FREESCOUT_URL).");
        RuleFor(o => o.BotUserId).GreaterThan(0).When(o => o.BotUserId is not null).WithMessage("must be a FreeScout user id (got {PropertyValue}) (FREESCOUTRULES_FREESCOUT_BOT_USER_ID).");
    }
}

internal sealed class ReconciliationOptionsValidator : AbstractValidator<Engine.Reconciliation.ReconciliationOptions>
{
    public ReconciliationOptionsValidator()
    {
        RuleFor(o => o.Interval).Must(i => i == TimeSpan.Zero || (i >= TimeSpan.FromSeconds(10) && i <= TimeSpan.FromDays(1))).When(o => o.Interval is not null)
            .WithMessage("must be 00:00:00 (off) or between 10 seconds and 1 day (got {PropertyValue}).");
        RuleFor(o => o.Overlap).InclusiveBetween(TimeSpan.Zero, TimeSpan.FromDays(1)).WithMessage("must be between 0 and 1 day (got {PropertyValue}).");
        RuleFor(o => o.SettleTime).InclusiveBetween(TimeSpan.Zero, TimeSpan.FromHours(6)).WithMessage("must be between 0 and 6 hours (got {PropertyValue}).");
        RuleFor(o => o.InitialLookback).InclusiveBetween(TimeSpan.Zero, TimeSpan.FromDays(3650)).WithMessage("must be between 0 and 3650 days (got {PropertyValue}).");
        RuleFor(o => o.PageSize).InclusiveBetween(1, 500).WithMessage("must be between 1 and 500 (got {PropertyValue}).");
        RuleFor(o => o.RequestsPerSecond).Must(r => r is > 0 and <= 100).WithMessage("must be more than 0 and at most 100 (got {PropertyValue}).");
        RuleFor(o => o.RequestTimeout).InclusiveBetween(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10)).WithMessage("must be between 1 second and 10 minutes (got {PropertyValue}).");
        RuleFor(o => o.Retries).InclusiveBetween(0, 10).WithMessage("must be between 0 and 10 (got {PropertyValue}).");
    }
}
