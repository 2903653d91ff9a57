namespace FreeScoutRules.Engine.Dispatch;

/// <summary>How stored deliveries are run through the rules.</summary>
internal sealed class DispatchOptions
{
    public const string Section = "Dispatch";

    /// <summary>Deliveries evaluated by the rules at the same time (CPU work). Default: the processor count.</summary>
    public int Workers { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Conversations in progress at the same time: being evaluated or waiting for their commit.
    /// Their commits share the single writer's group commits, so more in flight means fewer
    /// transactions per delivery. At least <see cref="Workers"/>. Default 64, or 4 per processor on
    /// machines with more than 16.
    /// </summary>
    public int InFlight { get; set; } = Math.Max(64, 4 * Environment.ProcessorCount);

    /// <summary>
    /// Conversations this instance claims at once (each a lane: its pending deliveries are read from the store in
    /// batches). Bounds what dispatch holds in memory: the store is the backlog. Default 4 × <see cref="InFlight"/>.
    /// </summary>
    public int MaxClaims { get; set; } = 4 * Math.Max(64, 4 * Environment.ProcessorCount);

    /// <summary>
    /// How often the store is swept for pending work nobody announced (work stored by another process, a hint
    /// dropped, the claims of an instance that died). Hints make the usual path immediate. Default 1 s.
    /// </summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long this instance's lease lasts unless renewed (renewed every quarter of it, whatever the work does): a
    /// takeover of its claims (conversations, action intents, and its named leases) waits this long after it stops renewing,
    /// then at most a <see cref="SweepInterval"/> (the next sweep of another instance). Independent of
    /// <c>Actions:Timeout</c>: a live instance keeps its claims however long an attempt or an evaluation takes. Default 3 s:
    /// with the sweep's 1 s, an instance that dies has its work taken over within 4 s (issue 22 asks 5 s); a stall of the
    /// process longer than about 2 s (three renewals missed) lets others take its work over, the fence refusing its late commits.
    /// </summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Known states of conversations with nothing queued kept in memory, so that their next
    /// delivery does not read the database. Default 100,000.
    /// </summary>
    public int StateCacheSize { get; set; } = 100_000;

    /// <summary>Attempts of a delivery whose rules throw before it is parked. Default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Wait before the second attempt; doubled for each further one. Default 1 s.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long one delivery may stay in the rules before the watchdog reports it (log and
    /// <c>/readyz</c>, naming the rule and the delivery) and parks it, saying why, so that its conversation goes
    /// on (here, and on any instance that would otherwise take the conversation over and get stuck in turn). A rule
    /// cannot be stopped from outside: its worker stays busy until it returns. Default 5 s.
    /// </summary>
    public TimeSpan RuleTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Our bot user's id in FreeScout (the user the <c>freescout</c> action writes as): deliveries
    /// whose newest thread it wrote through the API get an <c>OwnWrite</c> fact. Also from
    /// <c>FREESCOUTRULES_FREESCOUT_BOT_USER_ID</c>. None by default.
    /// </summary>
    public int? BotUserId { get; set; }

    /// <summary>
    /// Runaway-rule limit: at most this many action intents per rule and conversation within
    /// <see cref="RuleActionWindow"/>; more are not queued, and the delivery records why. Default 20.
    /// </summary>
    public int RuleActionLimit { get; set; } = 20;

    /// <summary>The window of <see cref="RuleActionLimit"/>, counted by when deliveries arrived. Default 1 hour.</summary>
    public TimeSpan RuleActionWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The settings of the evaluation pipeline, the same for <c>serve</c> and the CLI verbs.</summary>
    public Pipeline.PipelineSettings PipelineSettings(FreeScoutRules.Timers.IBusinessCalendars? calendars = null) =>
        new(BotUserId, RuleActionLimit, RuleActionWindow) { Calendars = calendars ?? Timers.BusinessCalendars.Empty };
}
