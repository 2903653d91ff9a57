using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Pipeline;

/// <summary>Timers from rules (issue 11): what an evaluation keeps, on its own clock, and what a timer's rules see offline.</summary>
public sealed class TimerSchedulingTests : IDisposable
{
    private readonly TempDirectory _rules = new();

    public void Dispose() => _rules.Dispose();

    private OfflineEvaluator Evaluator() => new(RuleSetCompiler.Compile(_rules.Path), new EvaluationPipeline(PipelineSettings.Default));

    [Fact]
    public async Task Schedule_IsDueAfterTheDeliveryWasReceived_TheLastSchedulingOfANameWins_AndCancelsAreKept()
    {
        _rules.Write("survey.csx", """
            public class SurveyAfterClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then()
                        .Do(ctx => ctx.Schedule("survey", change.ConversationId, TimeSpan.FromHours(12)))
                        .Do(ctx => ctx.Schedule("survey", change.ConversationId, TimeSpan.FromHours(24)))
                        .Do(ctx => ctx.Schedule("audit", change.ConversationId, new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero)))
                        .Do(ctx => ctx.CancelTimer("first-response", change.ConversationId));
                }
            }
            """);
        var delivery = Deliveries.Of(Events.ConversationStatus, Status.Closed, 60);

        var result = await Evaluator().ProcessAsync(delivery);

        Assert.Empty(result.Failures);
        Assert.Equal(
            [("survey", (DateTimeOffset?)(delivery.ReceivedAt + TimeSpan.FromHours(24))), ("audit", new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero)), ("first-response", null)],
            result.TimerChanges.Select(t => (t.Name, t.DueAt)).OrderBy(t => t.DueAt is null).ThenBy(t => t.Name == "audit"));
        Assert.All(result.TimerChanges, t => Assert.Equal(("SurveyAfterClose", 1187), (t.Rule, t.ConversationId)));
        Assert.Equal(3, result.ToRecord().Timers!.Count);
    }

    [Fact]
    public async Task ARuleThatFailsAfterScheduling_SchedulesNothing_AndBadArgumentsFailItWithAClearMessage()
    {
        _rules.Write("bad.csx", """
            public class SchedulesThenThrows : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then()
                        .Do(ctx => ctx.Schedule("reminder", change.ConversationId, TimeSpan.FromHours(1)))
                        .Do(ctx => ctx.Schedule("", change.ConversationId, TimeSpan.FromHours(1)));
                }
            }

            public class NegativeDelay : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Schedule("late", change.ConversationId, TimeSpan.FromHours(-1)));
                }
            }
            """);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Empty(result.TimerChanges);
        Assert.Null(result.ToRecord().Timers);
        Assert.Equal(["NegativeDelay", "SchedulesThenThrows"], result.Failures.Select(f => f.Rule).Order());
        Assert.Contains(result.Failures, f => f.Message.StartsWith("ArgumentException:", StringComparison.Ordinal));
        Assert.Contains(result.Failures, f => f.Message.StartsWith("ArgumentOutOfRangeException:", StringComparison.Ordinal));
        Assert.Single(result.StatusChanges); // the status change still commits
    }

    [Fact]
    public async Task ANameTooLongOrAConversationIdOfZero_FailsTheRuleNamingTheLimit()
    {
        _rules.Write("bad.csx", """
            public class LongName : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Schedule(new string('x', 101), change.ConversationId, TimeSpan.FromHours(1)));
                }
            }

            public class NoConversation : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.CancelTimer("survey", 0));
                }
            }
            """);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Empty(result.TimerChanges);
        Assert.Contains("at most 100 characters", Assert.Single(result.Failures, f => f.Rule == "LongName").Message, StringComparison.Ordinal);
        Assert.StartsWith("ArgumentOutOfRangeException:", Assert.Single(result.Failures, f => f.Rule == "NoConversation").Message, StringComparison.Ordinal);
    }

    private const string Chain = """
        public class FirstResponse : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then().Do(ctx => ctx.Schedule("first", change.ConversationId, BusinessTime.After("support", TimeSpan.FromHours(2))));
            }
        }

        public class OnFirst : Rule
        {
            public override void Define()
            {
                TimerElapsed timer = default!;
                When().Match(() => timer, t => t.Name == "first");
                Then()
                    .Do(ctx => ctx.Enqueue("notify", new { status = timer.KnownStatus, number = timer.Snapshot!.Number, timer.Number }))
                    .Do(ctx => ctx.Schedule("second", timer.ConversationId, TimeSpan.FromMinutes(30)));
            }
        }

        public class OnSecond : Rule
        {
            public override void Define()
            {
                TimerElapsed timer = default!;
                When().Match(() => timer, t => t.Name == "second");
                Then().Do(ctx => ctx.Enqueue("notify", new { second = timer.DueAt }));
            }
        }
        """;

    private static PipelineSettings WithSupportCalendar() => PipelineSettings.Default with
    {
        Calendars = new Engine.Timers.BusinessCalendars(new Dictionary<string, Engine.Timers.CalendarOptions>
        {
            ["support"] = new() { TimeZone = "UTC", Hours = { ["Monday"] = "09:00-17:00", ["Tuesday"] = "09:00-17:00", ["Wednesday"] = "09:00-17:00", ["Thursday"] = "09:00-17:00", ["Friday"] = "09:00-17:00" } },
        }),
    };

    [Fact]
    public async Task ATimersRules_SeeTheKnownStatusAndSnapshot_RunOnItsDueTime_AndDeriveNoStatusChange()
    {
        _rules.Write("chain.csx", Chain);
        var evaluator = new OfflineEvaluator(RuleSetCompiler.Compile(_rules.Path), new EvaluationPipeline(WithSupportCalendar()));
        var close = Deliveries.Of(Events.ConversationStatus, Status.Closed, 60);

        var scheduled = await evaluator.ProcessAsync(close);
        var fired = new List<(FreeScoutRules.Facts.TimerElapsed Timer, EvaluationResult Result)>();
        await evaluator.FireDueAsync(DateTimeOffset.MaxValue, (t, r) => fired.Add((t, r)));

        var due = Assert.Single(scheduled.TimerChanges).DueAt!.Value;
        Assert.True(due > close.ReceivedAt);
        Assert.Equal(["first", "second"], fired.Select(f => f.Timer.Name));
        var (first, result) = fired[0];
        Assert.Equal((1187, "closed", 11187, 1, due), (first.ConversationId, first.KnownStatus, first.Snapshot!.Number, first.Number, first.DueAt));
        Assert.Equal(TimeSpan.Zero, first.Lateness);
        Assert.Equal(["TimerElapsed", "PriorState"], result.Facts);
        Assert.Empty(result.StatusChanges);
        Assert.Null(result.NextState);
        Assert.False(result.Stale);
        Assert.Equal("""{"status":"closed","number":11187,"Number":1}""", Assert.Single(result.Intents).Arguments);
        Assert.Equal(1187, Assert.Single(result.Intents).ConversationId);
        Assert.Equal(due + TimeSpan.FromMinutes(30), fired[1].Timer.DueAt); // the clock of a timer's rules is its due time
        Assert.Equal(evaluator.StateOf(1187).Known, result.Prior);
        Assert.Empty(await evaluator.PendingTimersAsync());
    }

    [Fact]
    public async Task BusinessTime_WithACalendarNotConfigured_FailsTheRule_NamingWhereToConfigureIt()
    {
        _rules.Write("chain.csx", Chain);

        var result = await Evaluator().ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Empty(result.TimerChanges);
        var failure = Assert.Single(result.Failures);
        Assert.Equal("FirstResponse", failure.Rule);
        Assert.Contains("No calendar 'support' is configured (Calendars:support)", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SchedulingANameAgain_ReplacesThePendingTimer_AndCancellingEndsIt()
    {
        _rules.Write("survey.csx", """
            public class SurveyAfterClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Schedule("survey", change.ConversationId, TimeSpan.FromHours(24)));
                }
            }

            public class NoSurveyOnReopen : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsReopen);
                    Then().Do(ctx => ctx.CancelTimer("survey", change.ConversationId));
                }
            }
            """);
        var evaluator = Evaluator();
        var fired = new List<FreeScoutRules.Facts.TimerElapsed>();

        await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));
        await evaluator.ProcessAsync(Deliveries.Of(Events.CustomerReplyCreated, Status.Active, 120));
        await evaluator.FireDueAsync(DateTimeOffset.MaxValue, (t, _) => fired.Add(t));
        Assert.Empty(fired);

        await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 180));
        Assert.Equal(2, Assert.Single(await evaluator.PendingTimersAsync()).Number);
        await evaluator.FireDueAsync(DateTimeOffset.MaxValue, (t, _) => fired.Add(t));
        Assert.Equal(("survey", 2), (Assert.Single(fired).Name, fired[0].Number));
    }

    private const string SurveyAndCheck = """
        public class SurveyAfterClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then().Do(ctx => ctx.Schedule("survey", change.ConversationId, TimeSpan.FromHours(1)));
            }
        }

        public class OnSurvey : Rule
        {
            public override void Define()
            {
                TimerElapsed timer = default!;
                When().Match(() => timer, t => t.Name == "survey");
                Then().Do(ctx => ctx.Enqueue("notify", new { snapshot = timer.Snapshot!.Status, updatedAt = timer.Snapshot!.UpdatedAt, timer.Number }));
            }
        }
        """;

    [Fact]
    public async Task AFiringTheServerRecorded_FiresThisRunsScheduling_WhichThenNeverFiresAgain()
    {
        _rules.Write("survey.csx", SurveyAndCheck);
        var evaluator = Evaluator();
        var due = Assert.Single((await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60))).TimerChanges).DueAt!.Value;

        var (timer, result) = await evaluator.FireStoredAsync(new Engine.Storage.TimerFiring(1187, "survey", 1, due, due.AddMinutes(2), "SurveyAfterClose"), "77");
        var fired = new List<FreeScoutRules.Facts.TimerElapsed>();
        await evaluator.FireDueAsync(DateTimeOffset.MaxValue, (t, _) => fired.Add(t));

        Assert.Equal(("77", 1, TimeSpan.FromMinutes(2)), (timer.Id, timer.Number, timer.Lateness));
        Assert.Single(result.Intents);
        Assert.Empty(fired);
        Assert.Empty(await evaluator.PendingTimersAsync());
        var firings = (await evaluator.Store.LoadHistoryAsync(1187, default)).Where(d => d.Event == Engine.Storage.TimerFiring.Event).ToList();
        Assert.Equal(Engine.Storage.DeliveryOutcome.Done, Assert.Single(firings).Outcome);
    }

    [Fact]
    public async Task AFiringsSnapshot_IsTheStoresLatest_TheNewestDeliveryThatWasNotStale()
    {
        _rules.Write("survey.csx", SurveyAndCheck);
        var evaluator = Evaluator();
        await evaluator.ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));
        var stale = await evaluator.ProcessAsync(Deliveries.Of(Events.NoteCreated, Status.Active, 30)); // older than the known state

        var fired = new List<(FreeScoutRules.Facts.TimerElapsed Timer, EvaluationResult Result)>();
        await evaluator.FireDueAsync(DateTimeOffset.MaxValue, (t, r) => fired.Add((t, r)));

        Assert.True(stale.Stale);
        var (timer, result) = Assert.Single(fired);
        Assert.Equal(("timer:1", Status.Closed, Deliveries.T0.AddSeconds(60)), (timer.Id, timer.Snapshot!.Status, timer.Snapshot.UpdatedAt));
        Assert.Contains("\"snapshot\":\"closed\"", Assert.Single(result.Intents).Arguments, StringComparison.Ordinal);
    }
}
