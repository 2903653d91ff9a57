using System.Diagnostics.Metrics;

namespace FreeScoutRules.Engine.Telemetry;

/// <summary>
/// The engine's metrics (meter <c>FreeScoutRules</c>), exported by OpenTelemetry (Prometheus at
/// <c>/metrics</c>). Tags are bounded: event names are FreeScout's twelve (custom ones count as
/// <c>custom</c>), reasons and outcomes fixed words. Thread-safe.
/// </summary>
internal sealed class EngineMetrics
{
    public const string MeterName = "FreeScoutRules";

    private readonly Counter<long> _accepted;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _duplicates;
    private readonly Counter<long> _processed;
    private readonly Counter<long> _statusChanges;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _reloads;
    private readonly Counter<long> _ruleFailures;
    private readonly Counter<long> _storageFailures;
    private readonly Counter<long> _claimsLost;
    private readonly Counter<long> _loopFailures;
    private readonly Counter<long> _actionAttempts;
    private readonly Counter<long> _actionsUnrecorded;
    private readonly Counter<long> _timersFired;
    private readonly Counter<long> _timersChanged;
    private readonly Histogram<double> _timerLateness;
    private readonly Counter<long> _reconciliationPasses;
    private readonly Counter<long> _reconciledSnapshots;
    private readonly Counter<long> _reconciliationChanges;

    public EngineMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);
        _accepted = Meter.CreateCounter<long>("freescout_rules.deliveries.accepted", "{delivery}", "Deliveries stored and acknowledged with 202.");
        _refused = Meter.CreateCounter<long>("freescout_rules.deliveries.refused", "{delivery}", "Deliveries refused, by reason.");
        _duplicates = Meter.CreateCounter<long>("freescout_rules.deliveries.duplicate", "{delivery}", "Byte-identical redeliveries answered 200 and not stored again.");
        _processed = Meter.CreateCounter<long>("freescout_rules.deliveries.processed", "{delivery}", "Deliveries dispatched through the rules, by outcome.");
        _statusChanges = Meter.CreateCounter<long>("freescout_rules.status_changes", "{change}", "StatusChanged facts derived, by new status.");
        _reloads = Meter.CreateCounter<long>("freescout_rules.rules.reloads", "{reload}", "Rule folder reloads, by outcome (loaded, failed).");
        _ruleFailures = Meter.CreateCounter<long>("freescout_rules.rules.failures", "{failure}", "Rules that threw on a delivery (each failed alone; the other rules ran), by rule.");
        _claimsLost = Meter.CreateCounter<long>("freescout_rules.claims.lost", "{claim}", "Claims on work (a conversation, an intent) lost to a takeover by another instance; the late write was refused.");
        _storageFailures = Meter.CreateCounter<long>("freescout_rules.storage.failures", "{failure}", "Storage reads or writes that failed and are tried again, by where.");
        _loopFailures = Meter.CreateCounter<long>("freescout_rules.loops.failures", "{failure}", "Background loops that failed unexpectedly, by loop.");
        _actionAttempts = Meter.CreateCounter<long>("freescout_rules.actions.attempts", "{attempt}", "Action attempts, by action and outcome (done, retryable, failed, dead).");
        _actionsUnrecorded = Meter.CreateCounter<long>(
            "freescout_rules.actions.unrecorded", "{attempt}",
            "Action attempts made whose record could not be written (storage failing); the intent is not sent again until the record is written.");
        _latency = Meter.CreateHistogram<double>("freescout_rules.processing.latency", "ms", "From receipt to committed processing.");
        _timersFired = Meter.CreateCounter<long>("freescout_rules.timers.fired", "{timer}", "Timers that fell due and were queued in their conversation's turn.");
        _timersChanged = Meter.CreateCounter<long>("freescout_rules.timers.changes", "{change}", "Timer changes rules committed, by kind (scheduled, cancelled).");
        _timerLateness = Meter.CreateHistogram<double>(
            "freescout_rules.timers.lateness", "s", "From a timer's due time to its rules' committed result.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400] });
        _reconciliationPasses = Meter.CreateCounter<long>("freescout_rules.reconciliation.passes", "{pass}", "Reconciliation passes over FreeScout's API, by result (ok, failed).");
        _reconciledSnapshots = Meter.CreateCounter<long>(
            "freescout_rules.reconciliation.snapshots", "{conversation}",
            "Conversations reconciliation read from FreeScout's API, by result (stored: newer than the known state; not_newer; duplicate; invalid).");
        _reconciliationChanges = Meter.CreateCounter<long>(
            "freescout_rules.reconciliation.changes", "{change}",
            "Status changes that only reconciliation found (no webhook reported them), by new status: webhooks are being lost.");
    }

    /// <summary>A reconciliation pass ended.</summary>
    public void ReconciliationPassed(bool ok) => _reconciliationPasses.Add(1, new KeyValuePair<string, object?>("result", ok ? "ok" : "failed"));

    /// <summary>Reconciliation read <paramref name="count"/> conversations with <paramref name="result"/>.</summary>
    public void Reconciled(string result, long count = 1)
    {
        if (count > 0)
        {
            _reconciledSnapshots.Add(count, new KeyValuePair<string, object?>("result", result));
        }
    }

    /// <summary>A status change was derived from a reconciled snapshot: no webhook had reported it.</summary>
    public void FoundByReconciliation(string to) =>
        _reconciliationChanges.Add(1, new KeyValuePair<string, object?>("to", FreeScout.ConversationStatus.IsKnown(to) ? to : "other"));

    /// <summary>Makes the reconciliation series exist from the start (0), for alerts on their increase.</summary>
    public void PrimeReconciliation()
    {
        _reconciliationPasses.Add(0, new KeyValuePair<string, object?>("result", "ok"));
        _reconciliationPasses.Add(0, new KeyValuePair<string, object?>("result", "failed"));
        foreach (var status in FreeScout.ConversationStatus.All)
        {
            // Every series from 0: an alert on increase() misses a series whose first sample is already 1.
            _reconciliationChanges.Add(0, new KeyValuePair<string, object?>("to", status));
        }
    }


    /// <summary>A timer fell due and was stored as its conversation's next delivery.</summary>
    public void TimerFired() => _timersFired.Add(1);

    /// <summary>A rule's timer change was committed.</summary>
    public void TimerChanged(bool cancelled) =>
        _timersChanged.Add(1, new KeyValuePair<string, object?>("kind", cancelled ? "cancelled" : "scheduled"));

    /// <summary>A timer's rules committed their result <paramref name="latenessSeconds"/> after its due time.</summary>
    public void TimerHandled(double latenessSeconds) => _timerLateness.Record(Math.Max(0, latenessSeconds));

    public Meter Meter { get; }

    public void Accepted(string eventName) => _accepted.Add(1, new KeyValuePair<string, object?>("event", EventTag(eventName)));

    public void Refused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Duplicate() => _duplicates.Add(1);

    public void Processed(string outcome, double latencyMilliseconds)
    {
        _processed.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        _latency.Record(latencyMilliseconds);
    }

    public void ActionAttempted(string action, string outcome) =>
        _actionAttempts.Add(1, new KeyValuePair<string, object?>("action", action), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>An action attempt was made and its record could not be written.</summary>
    public void ActionUnrecorded() => _actionsUnrecorded.Add(1);

    /// <summary>
    /// Starts the series that alerts watch at 0 (a counter is exported only once something was
    /// counted, and an alert on its increase needs it from the start): accepted deliveries per event,
    /// reloads per outcome, storage failures, and the failures of each rule in <paramref name="rules"/>.
    /// </summary>
    public void Prime(IEnumerable<string> rules)
    {
        foreach (var eventName in FreeScout.WebhookEvents.All)
        {
            _accepted.Add(0, new KeyValuePair<string, object?>("event", eventName));
        }

        foreach (var reason in new[] { "signature", "malformed", "invalid", "unknown_event", "too_large", "content_type", "incomplete" })
        {
            _refused.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }

        _duplicates.Add(0);
        _actionsUnrecorded.Add(0);
        _reloads.Add(0, new KeyValuePair<string, object?>("outcome", "loaded"));
        _reloads.Add(0, new KeyValuePair<string, object?>("outcome", "failed"));
        _storageFailures.Add(0, new KeyValuePair<string, object?>("where", "dispatch"));
        _claimsLost.Add(0, new KeyValuePair<string, object?>("what", "conversation"));
        _claimsLost.Add(0, new KeyValuePair<string, object?>("what", "intent"));
        PrimeRules(rules);
    }

    /// <summary>Starts the failure series of each rule at 0 (a new generation's rules too).</summary>
    public void PrimeRules(IEnumerable<string> rules)
    {
        foreach (var rule in rules)
        {
            _ruleFailures.Add(0, new KeyValuePair<string, object?>("rule", rule));
        }
    }

    public void RuleFailed(string rule) => _ruleFailures.Add(1, new KeyValuePair<string, object?>("rule", rule));

    /// <summary>A claim was lost to a takeover (<paramref name="what"/>: conversation, intent); its late write was refused.</summary>
    public void ClaimLost(string what = "conversation") => _claimsLost.Add(1, new KeyValuePair<string, object?>("what", what));

    public void StorageFailed(string where) => _storageFailures.Add(1, new KeyValuePair<string, object?>("where", where));

    public void LoopFailed(string loop, long count = 1) => _loopFailures.Add(count, new KeyValuePair<string, object?>("loop", loop));

    public void RulesReloaded(bool loaded) => _reloads.Add(1, new KeyValuePair<string, object?>("outcome", loaded ? "loaded" : "failed"));

    public void StatusChanged(string to) =>
        _statusChanges.Add(1, new KeyValuePair<string, object?>("to", FreeScout.ConversationStatus.IsKnown(to) ? to : "other"));

    /// <summary>Reports the diagnostics of the rule generation in force, by id and severity.</summary>
    public void ObserveRuleDiagnostics(Func<IEnumerable<(string Id, string Severity)>> read) =>
        Meter.CreateObservableGauge(
            "freescout_rules.rules.diagnostics",
            () =>
            {
                var measurements = read().GroupBy(d => d).Select(g => new Measurement<long>(
                    g.LongCount(), new KeyValuePair<string, object?>("id", g.Key.Id), new KeyValuePair<string, object?>("severity", g.Key.Severity))).ToList();
                return measurements.Count > 0 ? measurements : [new Measurement<long>(0)]; // none: 0, not an absent series
            },
            "{diagnostic}",
            "Diagnostics (warnings) of the rule generation in force, by id and severity.");

    /// <summary>Reports <paramref name="read"/>, a total that only grows, as an observable counter.</summary>
    public void ObserveCounter(string name, string description, Func<long> read, string unit = "{item}") =>
        Meter.CreateObservableCounter(name, read, unit, description);

    /// <summary>Reports <paramref name="read"/> as an observable gauge.</summary>
    public void ObserveGauge(string name, string description, Func<long> read, string unit = "{item}") =>
        Meter.CreateObservableGauge(name, read, unit, description);

    private static string EventTag(string eventName) => FreeScout.WebhookEvents.IsKnown(eventName) ? eventName : "custom";
}
