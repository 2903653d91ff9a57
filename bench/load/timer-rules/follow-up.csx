// Rules for the timer load test (bench/load/timers.sh, docs/benchmarks.md §10), beside the built-in
// status rules: every delivery (re)schedules a follow-up timer for its conversation 3 seconds (FOLLOW_UP=N
// in timers.sh changes it) after its receipt, and the timer's rule runs when it fires. Its action is a no-op (no intent), so that
// the test measures the timer path (fire, dispatch, evaluate, commit) and not an action runner retrying
// intents no plugin takes; `fill-timers` names its timers the same way.

/// Every delivery (re)schedules its conversation's follow-up.
[Name("bench.ScheduleFollowUp")]
public class ScheduleFollowUp : Rule
{
    public override void Define()
    {
        Delivery delivery = default!;
        When().Match(() => delivery);
        Then().Do(ctx => ctx.Schedule("bench.follow-up", delivery.ConversationId, TimeSpan.FromSeconds(3)));
    }
}

/// The follow-up fired: its rule runs (and does nothing else).
[Name("bench.FollowUpElapsed")]
public class FollowUpElapsed : Rule
{
    public override void Define()
    {
        TimerElapsed timer = default!;
        When().Match(() => timer, t => t.Name == "bench.follow-up");
        Then().Do(ctx => Handled(timer));
    }

    private static void Handled(TimerElapsed timer) { }
}
