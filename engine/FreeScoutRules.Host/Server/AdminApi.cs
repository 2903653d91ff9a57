using FreeScoutRules.Host.Security;
using FreeScoutRules.Engine.Actions;
using FreeScoutRules.Engine.Dispatch;
using FreeScoutRules.Engine.Plugins;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Host.Settings;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// The admin API under <c>/api</c>, behind a bearer token compared in constant time: deliveries with
/// what processing them produced, filtered and paged, and re-runs of parked deliveries and of done ones
/// on which a rule failed.
/// </summary>
internal static partial class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api").AddEndpointFilter(RequireTokenAsync);
        api.MapGet("/deliveries", ListAsync);
        api.MapGet("/deliveries/{id:long}", GetAsync);
        api.MapPost("/deliveries/{id:long}/rerun", RerunAsync);
        api.MapPost("/deliveries/rerun", async (Reruns reruns, ILoggerFactory loggers, string? outcome, bool? ruleFailed, CancellationToken ct) =>
        {
            if ((outcome, ruleFailed) is not ((DeliveryOutcome.Parked, null) or (null, true)))
            {
                return WebhookEndpoint.Problem(StatusCodes.Status400BadRequest, "Bad filter",
                    "Re-run every parked delivery (?outcome=parked) or every done one on which a rule failed (?ruleFailed=true).");
            }

            var (requeued, skipped) = outcome is null ? await reruns.RerunRuleFailedAsync(ct) : await reruns.RerunParkedAsync(ct);
            LogRerun(loggers.CreateLogger("FreeScoutRules.Admin"), outcome is null ? "every delivery a rule failed on" : "every parked delivery", requeued);
            return Results.Accepted("/api/deliveries?outcome=pending", new { requeued, skipped = skipped.Select(s => new { id = s.Id, reason = s.Reason }) });
        });
        api.MapGet("/status", StatusAsync);
        api.MapGet("/rules", Rules);
        api.MapGet("/plugins", (PluginSetHolder plugins, IOptions<Engine.FreeScoutApi.FreeScoutOptions> freeScout) => Results.Ok(new
        {
            actions = plugins.Current.Handlers.Keys.Order(StringComparer.Ordinal),
            unconfigured = plugins.Current.Unconfigured(freeScout.Value.Connection()),
            problems = plugins.Current.Problems.Select(p => new { path = p.Path, reason = p.Reason }),
        }));
        api.MapGet("/deliveries/{id:long}/actions", async (IOutbox outbox, long id, CancellationToken ct) =>
            Results.Ok((await outbox.ListAsync(id, null, 500, ct)).Select(IntentView.From)));
        api.MapGet("/actions", async (IOutbox outbox, string? state, int? limit, CancellationToken ct) =>
            state is not null && state is not (IntentState.Pending or IntentState.Done or IntentState.Dead)
                ? WebhookEndpoint.Problem(StatusCodes.Status400BadRequest, "Bad filter", "state must be pending, done or dead.")
                : Results.Ok((await outbox.ListAsync(null, state, Math.Clamp(limit ?? 100, 1, 1000), ct)).Select(IntentView.From)));
        api.MapGet("/timers", async (ITimers timers, int? conversationId, DateTimeOffset? dueBefore, int? limit, string? state, CancellationToken ct) =>
            state is not null && state != "all" && !TimerState.All.Contains(state)
                ? Results.Problem(statusCode: 400, detail: $"state must be {string.Join(", ", TimerState.All)} or all.")
                : Results.Ok(await timers.ListAsync(
                    new TimerFilter(conversationId, dueBefore, Math.Clamp(limit ?? 100, 1, 1000), state == "all" ? null : state ?? TimerState.Pending), ct)));
        api.MapGet("/reconciliation", (Engine.Reconciliation.Reconciler reconciler) => Results.Ok(ReconciliationView(reconciler.Status)));
        api.MapPost("/reconciliation/passes", async (
            Engine.Reconciliation.Reconciler reconciler, IOptions<Engine.FreeScoutApi.FreeScoutOptions> freeScout, ILoggerFactory loggers,
            IHostApplicationLifetime lifetime, DateTimeOffset? since) =>
        {
            if (freeScout.Value.Connection() is null)
            {
                return WebhookEndpoint.Problem(StatusCodes.Status409Conflict, "FreeScout not configured",
                    "Reconciliation reads FreeScout's API: set FREESCOUTRULES_FREESCOUT_URL and FREESCOUTRULES_FREESCOUT_API_KEY (FreeScout:Url, FreeScout:ApiKey) on the server.");
            }

            LogReconcileAsked(loggers.CreateLogger("FreeScoutRules.Admin"), since?.ToString("o", System.Globalization.CultureInfo.InvariantCulture) ?? "the watermark");
            // Not the request's token: a pass asked for runs to its end even if the caller goes away (Ctrl+C, a dropped
            // SSH session), and stops only with the server.
            Engine.Reconciliation.ReconciliationPass pass;
            try
            {
                pass = await reconciler.PassAsync(since, Engine.Reconciliation.ReconciliationPass.Manual, lifetime.ApplicationStopping);
            }
            catch (Engine.Instances.LeaseHeldElsewhereException ex)
            {
                // One instance reads FreeScout at a time (its request budget is Reconciliation:RequestsPerSecond for all of them).
                return Results.Problem(
                    title: "Reconciliation runs in another instance",
                    detail: ex.Message,
                    statusCode: StatusCodes.Status409Conflict,
                    extensions: new Dictionary<string, object?>
                    {
                        ["holder"] = new
                        {
                            instanceId = ex.Holder.Lease.InstanceId,
                            instanceName = ex.Holder.InstanceName,
                            epoch = ex.Holder.Lease.Epoch,
                            expiresAt = ex.Holder.Lease.ExpiresAt,
                        },
                    });
            }

            return pass switch
            {
                { Error: not null } => Results.Json(pass, statusCode: StatusCodes.Status502BadGateway),
                // Cut short: another instance took the lease over (leaseLost says why) and goes on from the watermark.
                { LeaseLost: not null } => Results.Json(pass, statusCode: StatusCodes.Status409Conflict),
                _ => Results.Ok(pass),
            };
        });
        api.MapPost("/actions/{id:long}/retry", async (IOutbox outbox, TimeProvider time, ILoggerFactory loggers, long id, CancellationToken ct) =>
        {
            if (!await outbox.RetryDeadAsync(id, time.GetUtcNow(), ct))
            {
                return WebhookEndpoint.Problem(StatusCodes.Status409Conflict, "Not dead", $"Action intent {id} does not exist or is not dead; only dead intents are retried.");
            }

            LogRetried(loggers.CreateLogger("FreeScoutRules.Admin"), id);
            return Results.Accepted($"/api/actions?state=pending", new { intentId = id, status = "requeued" });
        });
        return endpoints;
    }

    private static async ValueTask<object?> RequireTokenAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var token = http.RequestServices.GetRequiredService<IOptions<AdminOptions>>().Value.Token;
        if (string.IsNullOrEmpty(token))
        {
            return WebhookEndpoint.Problem(StatusCodes.Status401Unauthorized, "Admin API disabled",
                "No admin token is configured: set FREESCOUTRULES_ADMIN_TOKEN (or Admin:Token) to enable the admin API.");
        }

        var throttle = http.RequestServices.GetRequiredService<AuthenticationThrottle>();
        if (throttle.Refusal(http) is { } wait)
        {
            return TooManyWrongTokens(http, wait);
        }

        var given = AdminToken.Bearer(http.Request);
        if (!AdminToken.Matches(given, token))
        {
            if (given.Length > 0)
            {
                throttle.Failed(http, AuthenticationThrottle.AdminApi);
            }

            http.Response.Headers.WWWAuthenticate = "Bearer";
            return WebhookEndpoint.Problem(StatusCodes.Status401Unauthorized, "Unauthorized",
                "A valid admin token is required: Authorization: Bearer <FREESCOUTRULES_ADMIN_TOKEN>.");
        }

        return await next(context);
    }

    /// <summary>429 for a client that presented too many wrong tokens (<see cref="AuthenticationThrottle"/>), with <c>Retry-After</c>.</summary>
    internal static IResult TooManyWrongTokens(HttpContext http, TimeSpan wait)
    {
        var seconds = AuthenticationThrottle.RetryAfterSeconds(wait);
        http.Response.Headers.RetryAfter = seconds;
        return WebhookEndpoint.Problem(StatusCodes.Status429TooManyRequests, "Too many wrong tokens",
            $"Too many wrong tokens from this address; try again in {seconds} s (Admin:Throttle).");
    }

    private static async Task<IResult> ListAsync(
        IDeliveryHistory queries, int? conversationId, string? outcome, DateTimeOffset? since, DateTimeOffset? until,
        int? page, int? pageSize, bool? ruleFailed, string? @event, long? before, CancellationToken cancellationToken)
    {
        if (outcome is not null && !DeliveryOutcome.All.Contains(outcome))
        {
            return WebhookEndpoint.Problem(StatusCodes.Status400BadRequest, "Bad filter",
                $"outcome must be one of {string.Join(", ", DeliveryOutcome.All)}.");
        }

        var filter = new DeliveryFilter(conversationId, outcome, since, until, Math.Max(1, page ?? 1), Math.Clamp(pageSize ?? 50, 1, 500), ruleFailed, @event, before);
        var records = await queries.ListAsync(filter, cancellationToken);
        return Results.Ok(new DeliveryPage(filter.Page, filter.PageSize, [.. records.Select(DeliveryView.From)]));
    }

    private static async Task<IResult> GetAsync(IDeliveryHistory queries, long id, CancellationToken cancellationToken) =>
        await queries.GetAsync(id, cancellationToken) is { } record
            ? Results.Ok(DeliveryView.From(record))
            : WebhookEndpoint.Problem(StatusCodes.Status404NotFound, "Not found", $"No delivery {id}.");

    private static async Task<IResult> RerunAsync(Reruns reruns, ILoggerFactory loggers, long id, CancellationToken cancellationToken)
    {
        var (outcome, reason) = await reruns.RerunAsync(id, cancellationToken);
        if (outcome == RerunOutcome.Requeued)
        {
            LogRerun(loggers.CreateLogger("FreeScoutRules.Admin"), $"delivery {id}", 1);
        }

        return outcome switch
        {
            RerunOutcome.Requeued => Results.Accepted($"/api/deliveries/{id}", new WebhookEndpoint.WebhookAnswer(id, "requeued")),
            RerunOutcome.NotFound => WebhookEndpoint.Problem(StatusCodes.Status404NotFound, "Not found", reason),
            _ => WebhookEndpoint.Problem(StatusCodes.Status409Conflict, "Nothing to re-run", reason),
        };
    }

    private static object ReconciliationView(Engine.Reconciliation.ReconcilerStatus status) => new
    {
        state = status.State,
        // While standing by: the instance whose passes run (the holder of the reconciliation lease).
        heldBy = status.HeldElsewhere is { } holder
            ? new { instanceId = holder.Lease.InstanceId, instanceName = holder.InstanceName, expiresAt = holder.Lease.ExpiresAt }
            : null,
        interval = status.Interval,
        watermark = status.Watermark,
        running = status.Running,
        lastSuccessAt = status.LastSuccessAt,
        lastError = status.LastError,
        consecutiveFailures = status.ConsecutiveFailures,
        lastPass = status.LastPass,
        currentPass = status.Current,
    };

    /// <summary>How far back <c>/api/status</c> lists instances that are gone (crashed, stopped, restarted).</summary>
    internal static readonly TimeSpan InstancesShown = TimeSpan.FromDays(1);

    /// <summary>The instances seen (this one: <c>self</c>), as <c>/api/status</c> shows them.</summary>
    internal static object InstancesView(Engine.Instances.LeasesOverview overview) =>
        overview.Instances.Select(i => new
        {
            id = i.Id,
            name = i.Name,
            startedAt = i.StartedAt,
            renewedAt = i.RenewedAt,
            expiresAt = i.ExpiresAt,
            leftAt = i.LeftAt,
            alive = i.Alive,
            self = i.Id == overview.Self,
            rulesGeneration = i.RulesGeneration,
        });

    /// <summary>The named leases of singleton work with their holders, as <c>/api/status</c> shows them.</summary>
    internal static object NamedLeasesView(Engine.Instances.LeasesOverview overview) =>
        overview.Leases.Select(l => new
        {
            name = l.Lease.Name,
            instanceId = l.Lease.InstanceId,
            instanceName = l.InstanceName,
            epoch = l.Lease.Epoch,
            expiresAt = l.Lease.ExpiresAt,
            held = l.Held,
            self = l.Held && l.Lease.InstanceId == overview.Self,
        });

    /// <summary>This build's release and commit (<c>0.8.0+…</c>), as the tool's <c>--version</c> prints it.</summary>
    private static readonly string Release =
        typeof(AdminApi).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown";

    private static async Task<IResult> StatusAsync(
        IDeliveryHistory queries, Dispatcher dispatcher, RuleSetHolder rules, IStorageLifetime storage, Engine.Reconciliation.Reconciler reconciler,
        Engine.Instances.NamedLeases leases, Engine.Instances.InstanceLeaseKeeper instance, Engine.Instances.RulesRollout rollout, CancellationToken cancellationToken)
    {
        var generation = rules.IsLoaded ? rules.Current : null;
        var holders = await leases.OverviewAsync(InstancesShown, instance.Joined?.Id, cancellationToken);
        return Results.Ok(new
        {
            // This instance's release (during a rolling upgrade, ask each instance).
            version = Release,
            deliveries = await queries.CountByOutcomeAsync(cancellationToken),
            // The store's backlog (every instance's); claimed: the conversations this instance works on now.
            queueDepth = await queries.CountAsync(Engine.Storage.DeliveryOutcome.Pending, cancellationToken),
            claimed = dispatcher.Claimed,
            // Part of every Idempotency-Key this server sends (fsr-<installationId>-<intent id>).
            installationId = storage.InstallationId,
            storage = new { location = storage.Location, sizeBytes = storage.SizeBytes },
            rules = generation is null ? null : new
            {
                generation = generation.ContentHash,
                names = generation.Rules.Select(r => r.Name),
                // What the live instances run (several during a rollout), as this instance last looked.
                inForce = rollout.InForce.Select(g => new { generation = g.Generation, instances = g.Instances }),
                mixedSince = rollout.MixedSince,
            },
            reconciliation = ReconciliationView(reconciler.Status),
            // Who holds what: every instance seen in the last day (this one: self), and the named leases of singleton work.
            instances = InstancesView(holders),
            leases = NamedLeasesView(holders),
        });
    }

    private static IResult Rules(RuleSetHolder holder, RulesReloader reloader)
    {
        var current = holder.Current;
        var failure = reloader.LastFailure;
        return Results.Ok(new
        {
            generation = current.ContentHash,
            loadedAt = reloader.LoadedAt,
            rules = current.Rules.Select(r => new { name = r.Name, file = r.File, builtIn = r.BuiltIn }),
            diagnostics = current.Warnings.Select(DiagnosticView.From),
            lastFailure = failure is null ? null : new
            {
                at = failure.At,
                generation = failure.ContentHash,
                diagnostics = failure.Diagnostics.Select(d => d.ToString()),
                details = failure.Diagnostics.Select(DiagnosticView.From),
            },
        });
    }

    /// <summary>A rule diagnostic for tools: where, what, how bad, and the line a compiler would print.</summary>
    internal sealed record DiagnosticView(string File, int Line, int Column, string Id, string Severity, string Message, string Text)
    {
        public static DiagnosticView From(RuleDiagnostic d) =>
            new(d.File, d.Line, d.Column, d.Id, d.IsError ? "error" : "warning", d.Message, d.ToString());
    }

    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Action intent {IntentId} was put back in line by hand (admin API); it runs after any earlier pending intent of its conversation and destination")]
    private static partial void LogRetried(ILogger logger, long intentId);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Information, Message = "Reconciliation pass asked through the admin API, from {Since}")]
    private static partial void LogReconcileAsked(ILogger logger, string since);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Re-run asked through the admin API: {What}: {Requeued} put back in line")]
    private static partial void LogRerun(ILogger logger, string what, int requeued);

    /// <summary>
    /// An action intent as the admin API shows it: its arguments as JSON (secrets as their references), and where the
    /// rule put secrets (a JSON Pointer into the arguments and the secret's name): only there are values put in; a
    /// <c>secret://</c> text elsewhere came from the data and is sent as it is.
    /// </summary>
    internal sealed record IntentView(
        long Id, long DeliveryId, int ConversationId, string Rule, string Action, System.Text.Json.JsonElement Arguments, string State, int Attempts,
        DateTimeOffset CreatedAt, DateTimeOffset? NextAttemptAt, DateTimeOffset? CompletedAt, string? LastError, long? WaitingFor,
        IReadOnlyList<AttemptRecord> AttemptLog, IReadOnlyList<SecretPlaceView> Secrets, string Destination, string IdempotencyKey)
    {
        public static IntentView From(IntentRecord i)
        {
            using var arguments = System.Text.Json.JsonDocument.Parse(i.Arguments);
            return new(i.Id, i.DeliveryId, i.ConversationId, i.Rule, i.Action, arguments.RootElement.Clone(), i.State, i.Attempts,
                i.CreatedAt, i.NextAttemptAt, i.CompletedAt, i.LastError, i.WaitingFor, i.AttemptLog,
                [.. SecretStore.Places(i.SecretPlaces).Select(p => new SecretPlaceView(p.Path, p.Name))], i.Destination, i.IdempotencyKey);
        }
    }

    /// <summary>Where a rule put a secret: a JSON Pointer into the intent's arguments, and the secret's name.</summary>
    internal sealed record SecretPlaceView(string Path, string Name);

    internal sealed record DeliveryPage(int Page, int PageSize, IReadOnlyList<DeliveryView> Items);

    /// <summary>A delivery as the admin API shows it.</summary>
    internal sealed record DeliveryView(
        long Id, string Event, int? ConversationId, long? Sequence, DateTimeOffset ReceivedAt, string Outcome, int Attempts,
        string? Error, DateTimeOffset? ProcessedAt, bool? Stale, string? RulesGeneration,
        IReadOnlyList<StatusChangeRecord> StatusChanges, IReadOnlyList<string> RulesFired, IReadOnlyList<ActionIntentRecord> ActionIntents,
        IReadOnlyList<string> SuppressedIntents, IReadOnlyList<RuleFailureRecord> RuleFailures, IReadOnlyList<RuleFailureRecord> EarlierRuleFailures,
        IReadOnlyList<TimerRecord> Timers, FiredTimerRecord? Timer)
    {
        public static DeliveryView From(DeliveryRecord r) => new(
            r.Id, r.Event, r.ConversationId, r.Sequence, r.ReceivedAt, r.Outcome, r.Attempts, r.Error, r.ProcessedAt, r.Result?.Stale, r.RulesGeneration,
            r.Result?.StatusChanges ?? [], r.Result?.RulesFired ?? [], r.Result?.ActionIntents ?? [], r.Result?.SuppressedIntents ?? [], r.Result?.RuleFailures ?? [], r.Result?.EarlierRuleFailures ?? [],
            r.Result?.Timers ?? [], r.Result?.Fired);
    }
}
