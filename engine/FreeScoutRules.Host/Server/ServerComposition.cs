using FluentValidation;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Telemetry;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace FreeScoutRules.Host.Server;

/// <summary>Composition of the server: <c>AddFreeScoutRules</c> registers the engine, <c>MapFreeScoutRules</c> its endpoints.</summary>
internal static class ServerComposition
{
    public static IServiceCollection AddFreeScoutRules(this IServiceCollection services, IConfiguration configuration)
    {
        AddValidatedOptions<WebhookOptions, WebhookOptionsValidator>(services, configuration, WebhookOptions.Section);
        AddValidatedOptions<StorageOptions, StorageOptionsValidator>(services, configuration, StorageOptions.Section);
        AddValidatedOptions<DispatchOptions, DispatchOptionsValidator>(services, configuration, DispatchOptions.Section);
        AddValidatedOptions<AdminOptions, AdminOptionsValidator>(services, configuration, AdminOptions.Section);
        AddValidatedOptions<RulesOptions, RulesOptionsValidator>(services, configuration, RulesOptions.Section);
        AddValidatedOptions<ActionsOptions, ActionsOptionsValidator>(services, configuration, ActionsOptions.Section);

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<EngineMetrics>();
        services.AddSingleton(sp => new SqliteDatabase(sp.GetRequiredService<IOptions<StorageOptions>>().Value));
        services.AddSingleton(sp => new InboxWriter(
            sp.GetRequiredService<SqliteDatabase>(), sp.GetRequiredService<IOptions<StorageOptions>>().Value, sp.GetRequiredService<ILogger<InboxWriter>>()));
        services.AddSingleton<DeliveryQueries>();
        services.AddSingleton<RuleSetHolder>();
        services.AddSingleton(sp => new RulesReloader(
            sp.GetRequiredService<IOptions<RulesOptions>>().Value.Directory,
            sp.GetRequiredService<RuleSetHolder>(),
            sp.GetRequiredService<InboxWriter>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<EngineMetrics>(),
            sp.GetRequiredService<ILogger<RulesReloader>>(),
            new RuleCompileCache(Path.Combine(sp.GetRequiredService<IOptions<StorageOptions>>().Value.DataDirectory, "rules-cache")),
            RuleDiagnosticSeverities.With(sp.GetRequiredService<IOptions<RulesOptions>>().Value.Severity!),
            () => sp.GetRequiredService<PluginSetHolder>().Current.Handlers.Keys.ToHashSet(StringComparer.Ordinal)));
        services.AddSingleton(sp => new Dispatcher(
            sp.GetRequiredService<InboxWriter>(),
            sp.GetRequiredService<DeliveryQueries>(),
            () => sp.GetRequiredService<RuleSetHolder>().Current,
            sp.GetRequiredService<IOptions<DispatchOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<EngineMetrics>(),
            sp.GetRequiredService<ILogger<Dispatcher>>()));
        services.AddSingleton(sp => new WebhookIngestor(
            sp.GetRequiredService<IOptions<WebhookOptions>>().Value,
            sp.GetRequiredService<InboxWriter>(),
            sp.GetRequiredService<Dispatcher>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<EngineMetrics>()));
        // Every HttpClient a plugin gets has the standard resilience pipeline: rate limiter, total
        // timeout, retries on transient errors and 429 (honouring Retry-After), circuit breaker.
        services.AddHttpClient();
        // Tunable under Actions:Resilience (HttpStandardResilienceOptions: Retry, AttemptTimeout, …).
        var resilience = configuration.GetSection("Actions:Resilience");
        services.ConfigureHttpClientDefaults(http =>
        {
            var pipeline = http.AddStandardResilienceHandler();
            if (resilience.Exists())
            {
                pipeline.Configure(resilience);
            }
        });
        services.AddSingleton<PluginSetHolder>();
        services.AddSingleton(sp => new PluginsReloader(
            sp.GetRequiredService<IOptions<RulesOptions>>().Value.PluginsDirectory,
            sp.GetRequiredService<PluginSetHolder>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PluginsReloader>>()));
        services.AddSingleton(sp => new OutboxQueries(sp.GetRequiredService<SqliteDatabase>()));
        services.AddSingleton(sp => new ActionRunner(
            sp.GetRequiredService<OutboxQueries>(),
            sp.GetRequiredService<InboxWriter>(),
            sp.GetRequiredService<PluginSetHolder>(),
            sp.GetRequiredService<IHttpClientFactory>(),
            sp.GetRequiredService<IOptions<ActionsOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<EngineService>();
        services.AddHostedService(sp => sp.GetRequiredService<EngineService>());

        services.AddHealthChecks().AddCheck<EngineReadinessCheck>("engine", tags: ["ready"]);
        services.AddProblemDetails();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(EngineMetrics.MeterName)
            .AddPrometheusExporter());
        return services;
    }

    public static WebApplication MapFreeScoutRules(this WebApplication app)
    {
        var metrics = app.Services.GetRequiredService<EngineMetrics>();
        var dispatcher = app.Services.GetRequiredService<Dispatcher>();
        var writer = app.Services.GetRequiredService<InboxWriter>();
        metrics.ObserveGauge("freescout_rules.dispatch.queue_depth", "Deliveries stored and not yet processed.", () => dispatcher.QueueDepth);
        metrics.ObserveGauge("freescout_rules.storage.write_queue", "Write operations waiting for the single writer.", () => writer.QueueLength);

        app.UseExceptionHandler();
        app.MapWebhookEndpoint();
        app.MapAdminApi();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            ResponseWriter = static (http, report) => http.Response.WriteAsync(
                report.Status == HealthStatus.Healthy
                    ? "Healthy"
                    : $"Unhealthy: {string.Join("; ", report.Entries.Values.Select(e => e.Description))}"),
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    private static void AddValidatedOptions<TOptions, TValidator>(IServiceCollection services, IConfiguration configuration, string section)
        where TOptions : class
        where TValidator : class, IValidator<TOptions>, new()
    {
        services.AddOptions<TOptions>().Bind(configuration.GetSection(section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>>(new FluentOptionsValidator<TOptions>(new TValidator(), section));
    }
}

/// <summary><c>/readyz</c>: ready once the database is open, the rules are loaded and the dispatcher runs.</summary>
internal sealed class EngineReadinessCheck(EngineService engine, RuleSetHolder rules, Dispatcher dispatcher) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!engine.IsRunning || !rules.IsLoaded)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The engine is starting or stopping."));
        }

        var stuck = dispatcher.Stuck;
        return Task.FromResult(stuck.Count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy($"Watchdog: {string.Join("; ", stuck)}"));
    }
}
