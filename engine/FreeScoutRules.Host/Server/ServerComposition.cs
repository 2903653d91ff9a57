using FreeScoutRules.Host.Security;
using FluentValidation;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.FreeScoutApi;
using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Reconciliation;
using FreeScoutRules.Engine.Retention;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Storage.Postgres;
using FreeScoutRules.Engine.Storage.Sqlite;
using FreeScoutRules.Engine.Supervision;
using FreeScoutRules.Engine.Timers;
using FreeScoutRules.Engine.Telemetry;
using FreeScoutRules.Host.OperatorConsole;
using FreeScoutRules.Host.Settings;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace FreeScoutRules.Host.Server;

/// <summary>Composition of the server: <c>AddFreeScoutRules</c> registers the engine, <c>MapFreeScoutRules</c> its endpoints.</summary>
internal static class ServerComposition
{
    /// <summary>
    /// Registers the engine, module by module (eShop's style): settings (validated at start, each options class also
    /// registered as its value, so that components take their settings by constructor), the store, rules, dispatch,
    /// ingestion, actions and the FreeScout connection, then the host's own parts.
    /// </summary>
    public static IServiceCollection AddFreeScoutRules(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddEngineSettings(configuration);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<EngineMetrics>();
        services.AddSingleton<LoopSupervisor>();
        services.AddStore(configuration);
        services.AddRules(configuration);
        services.AddDispatch();
        services.AddIngestion();
        services.AddActions(configuration);
        AddFreeScoutConnection(services);
        services.AddSingleton<EngineService>();
        services.AddHostedService(sp => sp.GetRequiredService<EngineService>());

        services.AddWebhookLimits();
        var storage = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        services.AddOperatorConsole(storage.DataDirectory, sharedKeys: storage.IsPostgres);
        services.AddHealthChecks().AddCheck<EngineReadinessCheck>("engine", tags: ["ready"]);
        services.AddProblemDetails();
        services.AddSecurityHeaders();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(EngineMetrics.MeterName)
            // .NET's own: GC (collections, heap, bytes allocated), thread pool, CPU time, memory.
            .AddMeter("System.Runtime")
            .AddPrometheusExporter());
        return services;
    }

    /// <summary>Every section's settings, bound, validated at start (FluentValidation), and registered as their values.</summary>
    private static void AddEngineSettings(this IServiceCollection services, IConfiguration configuration)
    {
        AddValidatedOptions<WebhookOptions, WebhookOptionsValidator>(services, configuration, WebhookOptions.Section);
        AddValidatedOptions<StorageOptions, StorageOptionsValidator>(services, configuration, StorageOptions.Section);
        // The SQLite store's own settings, in the same section (provider settings live with the provider); the PostgreSQL
        // store's connection string, checked when it is the provider.
        AddValidatedOptions<SqliteOptions, SqliteOptionsValidator>(services, configuration, StorageOptions.Section);
        services.AddOptions<PostgresOptions>().Configure(postgres => postgres.ConnectionString = configuration.GetConnectionString(PostgresOptions.ConnectionStringName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PostgresOptions>, PostgresOptionsValidation>();
        AddValidatedOptions<DispatchOptions, DispatchOptionsValidator>(services, configuration, DispatchOptions.Section);
        AddValidatedOptions<AdminOptions, AdminOptionsValidator>(services, configuration, AdminOptions.Section);
        AddValidatedOptions<RulesOptions, RulesOptionsValidator>(services, configuration, RulesOptions.Section);
        AddValidatedOptions<ActionsOptions, ActionsOptionsValidator>(services, configuration, ActionsOptions.Section);
        AddValidatedOptions<RetentionOptions, RetentionOptionsValidator>(services, configuration, RetentionOptions.Section);
        AddValidatedOptions<FreeScoutOptions, FreeScoutOptionsValidator>(services, configuration, FreeScoutOptions.Section);
        AddValidatedOptions<ReconciliationOptions, ReconciliationOptionsValidator>(services, configuration, ReconciliationOptions.Section);
        AddValidatedOptions<Engine.Instances.LeaseOptions, LeaseOptionsValidator>(services, configuration, Engine.Instances.LeaseOptions.Section);
        services.AddOptions<ReconciliationOptions>().Validate<IOptions<FreeScoutOptions>>(
            (reconciliation, freeScout) => !(reconciliation.Interval > TimeSpan.Zero && freeScout.Value.Connection() is null),
            "Reconciliation:Interval: reconciliation reads FreeScout's API, but the FreeScout connection is not configured: set FREESCOUTRULES_FREESCOUT_URL and FREESCOUTRULES_FREESCOUT_API_KEY (FreeScout:Url, FreeScout:ApiKey), or Reconciliation:Interval=00:00:00.");
        // The bot user is set once, for the connection; own-write detection takes it unless Dispatch:BotUserId says otherwise.
        services.PostConfigure<DispatchOptions>(dispatch => dispatch.BotUserId ??= configuration.GetValue<int?>("FreeScout:BotUserId"));

        services.AddOptions<ForwardedHeadersSettings>().Configure(forwarded => forwarded.ReadFrom(configuration)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ForwardedHeadersSettings>, ForwardedHeadersSettingsValidator>();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ForwardedHeadersSettings>>((options, settings) =>
        {
            // Only the configured proxies: ASP.NET Core's defaults (loopback) are cleared, and with none configured no header
            // is read at all (also if ASPNETCORE_FORWARDEDHEADERS_ENABLED adds the middleware, which would then trust anyone).
            options.ForwardedHeaders = settings.Value.Configured ? ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto : ForwardedHeaders.None;
            options.KnownProxies.Clear();
            options.KnownIPNetworks.Clear();
            options.ForwardLimit = settings.Value.ForwardLimit;
            foreach (var proxy in settings.Value.Proxies())
            {
                options.KnownProxies.Add(proxy);
            }

            foreach (var network in settings.Value.Networks())
            {
                options.KnownIPNetworks.Add(network);
            }
        });
        services.AddSingleton<AuthenticationThrottle>();
        AddValidatedOptions<ObservabilityOptions, ObservabilityOptionsValidator>(services, configuration, ObservabilityOptions.Section);
        services.AddOptions<ObservabilityOptions>().Validate<IOptions<AdminOptions>>(
            (observability, admin) => string.IsNullOrEmpty(observability.MetricsToken) || observability.MetricsToken != admin.Value.Token,
            "Observability:MetricsToken: the metrics token is the admin token; give the scraper a token of its own (freescout-rules token prints one), so that it reads metrics and nothing else.");
        services.AddSingleton<ObservabilityGate>();
        AddValidatedOptions<ConsoleOptions, ConsoleOptionsValidator>(services, configuration, ConsoleOptions.Section);
        services.AddSingleton<IValidateOptions<ConsoleOptions>, ConsoleKeyValidation>();

        services.AddOptions<SecretsOptions>().Configure(secrets => secrets.ReadFrom(configuration)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SecretsOptions>>(new FluentOptionsValidator<SecretsOptions>(new SecretsOptionsValidator(), SecretsOptions.Section));
        services.AddSingleton(sp => new SecretStore(Options<SecretsOptions>(sp).Values));
        services.AddOptions<CalendarsOptions>().Configure(calendars => calendars.ReadFrom(configuration)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CalendarsOptions>, CalendarsOptionsValidator>();

    }

    /// <summary>
    /// The store behind the engine's ports (<c>Storage:Provider</c>: the embedded SQLite one, or PostgreSQL; the store's
    /// module registers it), this process's instance lease, and the named leases of singleton work.
    /// </summary>
    private static void AddStore(this IServiceCollection services, IConfiguration configuration)
    {
        if ((configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions()).IsPostgres)
        {
            services.AddPostgresStorage();
        }
        else
        {
            services.AddSqliteStorage();
        }

        // The instance records the rule generation in force here, and looks at which ones the live instances run (a rollout).
        services.AddSingleton(sp => new Engine.Instances.RulesRollout(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new Engine.Instances.InstanceLeaseKeeper(
            sp.GetRequiredService<ILeases>(), Options<DispatchOptions>(sp).LeaseTime, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<EngineMetrics>(), sp.GetRequiredService<ILogger<Engine.Instances.InstanceLeaseKeeper>>(),
            () => sp.GetRequiredService<RuleSetHolder>() is { IsLoaded: true } rules ? rules.Current.ContentHash : null,
            sp.GetRequiredService<Engine.Instances.RulesRollout>()));
        services.AddSingleton<Func<InstanceLease>>(sp => () => sp.GetRequiredService<Engine.Instances.InstanceLeaseKeeper>().Current);
        // Singleton work (reconciliation, retention) runs in the instance holding its named lease, on the store's clock.
        services.AddSingleton(sp => new Engine.Instances.NamedLeases(
            sp.GetRequiredService<ILeases>(), sp.GetRequiredService<Func<InstanceLease>>(),
            Options<Engine.Instances.LeaseOptions>(sp).Time, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<EngineMetrics>(), sp.GetRequiredService<ILogger<Engine.Instances.NamedLeases>>()));
        services.AddSingleton<Pruner>();
        services.AddSingleton<StorageGauges>();
    }

    /// <summary>The rules: the generation in force and its reloader.</summary>
    private static void AddRules(this IServiceCollection services, IConfiguration configuration)
    {
        services.PostConfigure<RulesOptions>(rules => rules.ReadDirectoryOptional(configuration));
        services.AddSingleton<RuleSetHolder>();
        services.AddSingleton(sp => new RulesReloader(
            Options<RulesOptions>(sp).Directory,
            sp.GetRequiredService<RuleSetHolder>(),
            sp.GetRequiredService<IRuleGenerationLog>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<EngineMetrics>(),
            sp.GetRequiredService<ILogger<RulesReloader>>(),
            new RuleCompileCache(Path.Combine(Options<StorageOptions>(sp).DataDirectory, "rules-cache")),
            RuleDiagnosticSeverities.With(Options<RulesOptions>(sp).Severity!),
            () => sp.GetRequiredService<PluginSetHolder>().Current.Checks(
                sp.GetRequiredService<SecretStore>().Names, sp.GetRequiredService<EvaluationPipeline>().Settings.Calendars.Names,
                Options<FreeScoutOptions>(sp).Connection(), Options<DispatchOptions>(sp).BotUserId is not null),
            Options<RulesOptions>(sp).DirectoryOptional));

        services.AddSingleton<Func<RuleSetGeneration>>(sp => () => sp.GetRequiredService<RuleSetHolder>().Current);
    }

    /// <summary>The one evaluation pipeline, and dispatch around it: the claim loop and lanes, the processor, timers, re-runs.</summary>
    private static void AddDispatch(this IServiceCollection services)
    {
        services.AddSingleton(sp => new EvaluationPipeline(Options<DispatchOptions>(sp).PipelineSettings(Options<CalendarsOptions>(sp).ToCalendars())));
        services.AddSingleton(sp => new Watchdog(Options<DispatchOptions>(sp).RuleTimeout, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<Watchdog>>()));
        services.AddSingleton<IntentDestinations>();
        services.AddSingleton<TimerSignal>();
        services.AddSingleton<DeliveryProcessor>();
        services.AddSingleton<Dispatcher>();
        services.AddSingleton(sp => new TimerLoop(
            sp.GetRequiredService<ITimers>(), sp.GetRequiredService<IDeliveryHistory>(), sp.GetRequiredService<TimerSignal>(),
            sp.GetRequiredService<EngineMetrics>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<TimerLoop>>())
        {
            // On a store that several processes share, a timer another instance scheduled wakes no loop here (only this
            // process's commits signal it): had that instance died before its timer was due, the timer would wait for this
            // loop's next look, up to a minute. So it looks at least every Dispatch:SweepInterval, as the dispatcher sweeps
            // for work nobody announced (docs/design.md, "Timers").
            MaxSleep = Options<StorageOptions>(sp).IsPostgres ? Options<DispatchOptions>(sp).SweepInterval : TimerLoop.DefaultMaxSleep,
        });
        services.AddSingleton<Reruns>();
    }

    /// <summary>The webhook's ingestion: who may post, and what is stored.</summary>
    private static void AddIngestion(this IServiceCollection services)
    {
        services.AddSingleton(sp => new WebhookSources(Options<WebhookOptions>(sp).AllowedNetworks()));
        services.AddSingleton<WebhookSources.Filter>();
        services.AddSingleton<WebhookIngestor>();
    }

    /// <summary>Actions: the HTTP clients plugins get, the plugins in force and their reloader, the action runner.</summary>
    private static void AddActions(this IServiceCollection services, IConfiguration configuration)
    {
        // Every HttpClient a plugin gets has the standard resilience pipeline: rate limiter, total
        // timeout, retries on transient errors and 429 (honouring Retry-After), circuit breaker.
        services.AddHttpClient();
        // Tunable under Actions:Resilience (HttpStandardResilienceOptions: Retry, AttemptTimeout, …).
        var resilience = configuration.GetSection("Actions:Resilience");
        services.ConfigureHttpClientDefaults(http =>
        {
            // No client the engine hands out follows a redirect by itself (plugins' too): a redirect to another origin
            // would carry the request's headers, secrets included. The http action follows redirects itself, by its rules.
            http.ConfigurePrimaryHttpMessageHandler(static (handler, _) =>
            {
                switch (handler)
                {
                    case SocketsHttpHandler sockets:
                        sockets.AllowAutoRedirect = false;
                        break;
                    case HttpClientHandler client:
                        client.AllowAutoRedirect = false;
                        break;
                }
            });

            // The action runner retries an attempt with its own backoff for up to a day; inside one attempt
            // the pipeline retries once, soon, so that a blip costs seconds and an attempt stays one or two requests.
            var pipeline = http.AddStandardResilienceHandler(options =>
            {
                options.Retry.MaxRetryAttempts = 1;
                options.Retry.Delay = TimeSpan.FromMilliseconds(200);
            });
            if (resilience.Exists())
            {
                pipeline.Configure(resilience);
            }

            // One circuit breaker and rate limiter per target authority, not per client: a target that fails opens the
            // circuit of that target only. The registry keeps every instance, so the keys are bounded (ResiliencePipelineKeys).
            pipeline.SelectPipelineBy(sp =>
            {
                var keys = sp.GetRequiredService<ResiliencePipelineKeys>();
                return request => keys.For(request.RequestUri);
            });
        });
        services.AddSingleton(new ResiliencePipelineKeys());
        services.AddSingleton<PluginSetHolder>();
        services.AddSingleton(sp => new PluginsReloader(
            Options<RulesOptions>(sp).PluginsDirectory,
            sp.GetRequiredService<PluginSetHolder>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PluginsReloader>>()));
        services.AddSingleton(sp => new ActionRunner(
            sp.GetRequiredService<IOutbox>(),
            sp.GetRequiredService<Func<InstanceLease>>(),
            sp.GetRequiredService<PluginSetHolder>(),
            sp.GetRequiredService<IHttpClientFactory>(),
            Options<ActionsOptions>(sp),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<EngineMetrics>(),
            sp.GetRequiredService<SecretStore>(),
            Options<FreeScoutOptions>(sp).Connection()));
    }

    public static WebApplication MapFreeScoutRules(this WebApplication app)
    {
        var metrics = app.Services.GetRequiredService<EngineMetrics>();
        var dispatcher = app.Services.GetRequiredService<Dispatcher>();
        var storage = app.Services.GetRequiredService<IStorageLifetime>();
        metrics.ObserveGauge("freescout_rules.dispatch.claimed", "Conversations this instance has claimed and is working on.", () => dispatcher.Claimed, "{conversation}");
        var rollout = app.Services.GetRequiredService<Engine.Instances.RulesRollout>();
        metrics.ObserveGauge("freescout_rules.rules.generations_in_force", "Rule generations the live instances run (as this instance last looked): more than 1 during a rollout.",
            () => rollout.InForce.Count, "{generation}");
        var processor = app.Services.GetRequiredService<DeliveryProcessor>();
        metrics.ObserveGauge("freescout_rules.dispatch.stuck", "Rule evaluations abandoned past Dispatch:RuleTimeout and still running: each holds one of Dispatch:Workers until its rule returns.",
            () => processor.Stuck, "{evaluation}");
        foreach (var measure in storage.Measures)
        {
            if (measure.IsCounter)
            {
                metrics.ObserveCounter(measure.Name, measure.Description, measure.Read, measure.Unit);
            }
            else
            {
                metrics.ObserveGauge(measure.Name, measure.Description, measure.Read, measure.Unit);
            }
        }

        metrics.ObserveGauge("freescout_rules.storage.size", "Bytes the database takes on disk (with its write-ahead log).", () => storage.SizeBytes, "By");
        app.Services.GetRequiredService<StorageGauges>().Register();
        var reconciler = app.Services.GetRequiredService<Reconciler>();
        metrics.ObserveGauge("freescout_rules.reconciliation.failing", "1 while the last reconciliation pass failed (/api/status says why), else 0.",
            () => reconciler.Status.State == ReconcilerStatus.Failing ? 1 : 0);
        metrics.ObserveGauge("freescout_rules.reconciliation.last_success", "When the last reconciliation pass succeeded (Unix time; 0 before the first).",
            () => reconciler.Status.LastSuccessAt?.ToUnixTimeSeconds() ?? 0, "s");
        var rules = app.Services.GetRequiredService<RuleSetHolder>();
        metrics.ObserveRuleDiagnostics(() => rules.IsLoaded
            ? rules.Current.Warnings.Select(w => (w.Id, w.IsError ? "error" : "warning"))
            : []);

        if (app.Services.GetRequiredService<IOptions<ForwardedHeadersSettings>>().Value.Configured)
        {
            // First: everything after it (throttling, logs, the console's cookies and origin check) sees the real client and scheme.
            app.UseForwardedHeaders();
        }

        app.UseSecurityHeaders();
        app.UseExceptionHandler();
        app.UseRateLimiter(); // only the webhook endpoint has a policy (Webhook:MaxConcurrentRequests)
        app.MapOperatorConsole();
        app.MapWebhookEndpoint();
        app.MapAdminApi();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            // The status word to anyone (the code says as much); why, only to a caller with the metrics or admin token:
            // the reasons name rules, loops and conversations.
            ResponseWriter = static (http, report) => http.Response.WriteAsync(
                report.Status != HealthStatus.Healthy
                    && http.RequestServices.GetRequiredService<ObservabilityGate>().Check(http, AuthenticationThrottle.Health).IsReader
                    ? $"{report.Status}: {string.Join("; ", report.Entries.Values.Select(e => e.Description))}"
                    : report.Status.ToString()),
        });
        app.MapPrometheusScrapingEndpoint("/metrics", meterProvider: null, configureBranchedPipeline: metrics => metrics.Use(ObservabilityGate.GuardMetricsAsync), optionsName: null);
        return app;
    }

    /// <summary>
    /// The one FreeScout connection: the named client <see cref="FreeScoutRules.FreeScout.FreeScoutConnection.HttpClientName"/> for
    /// actions (the standard resilience pipeline, like every client), and the reconciler's client, whose own pipeline
    /// backs off on 429 and 5xx (honouring Retry-After), with a <see cref="RequestPacer"/> inside it that keeps every attempt,
    /// retries too, to <c>Reconciliation:RequestsPerSecond</c>. Both send the API key, which goes nowhere else.
    /// </summary>
    private static void AddFreeScoutConnection(IServiceCollection services)
    {
        services.AddHttpClient(FreeScoutRules.FreeScout.FreeScoutConnection.HttpClientName).ConfigureHttpClient((sp, client) => Connect(sp, client));
        services.AddSingleton(sp => new RequestPacer(Options<ReconciliationOptions>(sp).RequestsPerSecond, sp.GetRequiredService<TimeProvider>()));
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers: the reconciler's client replaces the default pipeline with its own.
        var reconcilerClient = services.AddHttpClient(ReconcilerClientName)
            .ConfigureHttpClient((sp, client) =>
            {
                Connect(sp, client);
                client.Timeout = Timeout.InfiniteTimeSpan; // the pipeline's timeouts govern, retries included
            })
            .RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        reconcilerClient.AddResilienceHandler("freescout-reconciliation", (pipeline, context) =>
            {
                var options = context.ServiceProvider.GetRequiredService<IOptions<ReconciliationOptions>>().Value;
                pipeline
                    .AddTimeout(options.RequestTimeout * (options.Retries + 1) + TimeSpan.FromMinutes(2))
                    .AddRetry(new HttpRetryStrategyOptions
                    {
                        MaxRetryAttempts = Math.Max(1, options.Retries),
                        ShouldHandle = options.Retries == 0 ? _ => ValueTask.FromResult(false) : new HttpRetryStrategyOptions().ShouldHandle,
                        BackoffType = DelayBackoffType.Exponential,
                        UseJitter = true,
                        Delay = TimeSpan.FromSeconds(2),
                        MaxDelay = TimeSpan.FromMinutes(1),
                    })
                    .AddTimeout(options.RequestTimeout);
            });
        // Inside the retries: every attempt waits for its turn (Reconciliation:RequestsPerSecond).
        reconcilerClient.AddHttpMessageHandler(sp => new RequestPacer.Handler(sp.GetRequiredService<RequestPacer>()));
        services.AddSingleton(sp => new FreeScoutClient(sp.GetRequiredService<IHttpClientFactory>().CreateClient(ReconcilerClientName)));
        services.AddSingleton(sp =>
        {
            var connected = Options<FreeScoutOptions>(sp).Connection() is not null;
            var options = Options<ReconciliationOptions>(sp);
            return new Reconciler(
                sp.GetRequiredService<FreeScoutClient>(),
                sp.GetRequiredService<IReconciliationStore>(),
                sp.GetRequiredService<IInbox>(),
                sp.GetRequiredService<Engine.Instances.NamedLeases>(),
                options,
                connected ? options.EffectiveInterval(connected) : TimeSpan.Zero,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<EngineMetrics>(),
                sp.GetRequiredService<ILogger<Reconciler>>());
        });
    }

    /// <summary>The reconciler's named client.</summary>
    internal const string ReconcilerClientName = "freescout-reconciliation";

    private static void Connect(IServiceProvider services, HttpClient client)
    {
        var options = Options<FreeScoutOptions>(services);
        if (options.Connection() is { } connection)
        {
            client.BaseAddress = connection.BaseAddress;
            client.DefaultRequestHeaders.Add("X-FreeScout-API-Key", options.ApiKey);
        }
    }

    private static T Options<T>(IServiceProvider services)
        where T : class => services.GetRequiredService<IOptions<T>>().Value;

    private static void AddValidatedOptions<TOptions, TValidator>(IServiceCollection services, IConfiguration configuration, string section)
        where TOptions : class
        where TValidator : class, IValidator<TOptions>, new()
    {
        services.AddOptions<TOptions>().Bind(configuration.GetSection(section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>>(new FluentOptionsValidator<TOptions>(new TValidator(), section));
        // Components take their settings by constructor: the value, validated, once the container builds it.
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<TOptions>>().Value);
    }
}

/// <summary>
/// <c>/readyz</c>: ready once the database is open, the rules are loaded and the dispatcher runs, while
/// no rule evaluation is stuck (the watchdog), no background loop has failed (the supervisor), the store answers
/// this instance's lease renewals (its keeper: the renewals, every quarter of <c>Dispatch:LeaseTime</c>, are the probe;
/// nothing is asked of the store per request). Degraded (still 200) while the live instances have run different rule
/// generations for longer than <c>Rules:MaxGenerationSkew</c> (a rollout stopped half-way).
/// </summary>
internal sealed class EngineReadinessCheck(
    EngineService engine, RuleSetHolder rules, Watchdog watchdog, LoopSupervisor supervisor, Engine.Instances.InstanceLeaseKeeper instance,
    Engine.Instances.RulesRollout rollout, RulesOptions rulesOptions) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!engine.IsRunning || !rules.IsLoaded)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The engine is starting or stopping."));
        }

        List<string> problems = [.. supervisor.Failures, .. watchdog.Stuck.Select(s => $"Watchdog: {s}")];
        if (instance.Problem is { } storage)
        {
            problems.Add(storage);
        }

        // A rollout stopped half-way is the same on every instance: Degraded (answered 200, saying why), not Unhealthy, so
        // that a balancer checking /readyz does not take every instance out of service at once for it.
        var skew = rollout.Problem(rulesOptions.MaxGenerationSkew);
        return Task.FromResult(problems.Count > 0
            ? HealthCheckResult.Unhealthy(string.Join("; ", skew is null ? problems : [.. problems, skew]))
            : skew is not null ? HealthCheckResult.Degraded(skew) : HealthCheckResult.Healthy());
    }
}
