namespace FreeScoutRules.Engine.Reconciliation;

/// <summary>What the reconciler is doing and how its last passes went (for <c>/api/status</c> and the log). Immutable.</summary>
/// <param name="State"><c>off</c>, <c>waiting</c> (no pass finished yet), <c>ok</c>, <c>failing</c> (the last pass failed: <see cref="LastError"/> says why), or <c>standby</c> (another instance holds the reconciliation lease and runs the passes: <see cref="HeldElsewhere"/>).</param>
/// <param name="Interval">Time between passes (zero when off).</param>
/// <param name="Watermark">Every conversation FreeScout listed as updated up to here was stored or found not newer.</param>
/// <param name="LastSuccessAt">When the last pass that succeeded finished.</param>
/// <param name="LastError">Why the last pass failed, when it did.</param>
/// <param name="ConsecutiveFailures">Passes that failed in a row.</param>
/// <param name="LastPass">The last pass that finished, successful or not.</param>
internal sealed record ReconcilerStatus(
    string State, TimeSpan Interval, DateTimeOffset? Watermark, DateTimeOffset? LastSuccessAt,
    string? LastError, int ConsecutiveFailures, ReconciliationPass? LastPass)
{
    /// <summary>The pass running now, as far as it got (requests, stored, watermark), or <c>null</c>.</summary>
    public ReconciliationPass? Current { get; init; }

    /// <summary>A pass is running now.</summary>
    public bool Running => Current is not null;

    /// <summary>While standing by: the instance that holds the reconciliation lease (its passes run there), and until when.</summary>
    public Instances.LeaseHolder? HeldElsewhere { get; init; }

    public const string Off = "off";
    public const string Waiting = "waiting";
    public const string Ok = "ok";
    public const string Failing = "failing";
    public const string Standby = "standby";
}

/// <summary>One pass over the conversations FreeScout lists as updated since <see cref="Since"/>.</summary>
/// <param name="Trigger"><c>interval</c>, or <c>manual</c> (<c>reconcile</c>, the admin API).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="FinishedAt">When it ended (<c>null</c> while it runs).</param>
/// <param name="Since">Where it started (the watermark minus the overlap, or what was asked).</param>
/// <param name="Requests">Pages requested (a failed request counts; retries inside one do not).</param>
/// <param name="Listed">Conversations listed that had settled (updated at least the settle time ago).</param>
/// <param name="Stored">Snapshots newer than the known state, stored as deliveries.</param>
/// <param name="NotNewer">Snapshots not newer than the known state (not stored).</param>
/// <param name="Duplicates">Snapshots stored by an earlier pass already.</param>
/// <param name="Invalid">Conversations whose JSON did not validate (skipped; the log says why).</param>
/// <param name="StoredConversations">The numbers of the first 20 conversations whose snapshots were stored.</param>
/// <param name="Watermark">The watermark after it.</param>
/// <param name="Error">Why it failed, or <c>null</c>.</param>
internal sealed record ReconciliationPass(
    string Trigger, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, DateTimeOffset Since, int Requests, int Listed, int Stored,
    int NotNewer, int Duplicates, int Invalid, IReadOnlyList<int> StoredConversations, DateTimeOffset? Watermark, string? Error)
{
    public const string Interval = "interval";
    public const string Manual = "manual";

    /// <summary>Conversations FreeScout listed as updated within the settle time: left to their webhooks until the next pass.</summary>
    public int LeftForNextPass { get; init; }

    /// <summary>
    /// Why the pass stopped before its end when this instance lost the reconciliation lease (another instance took it over
    /// and goes on from the watermark), or <c>null</c>. Neither a success nor a failure: what it stored stands.
    /// </summary>
    public string? LeaseLost { get; init; }
}
