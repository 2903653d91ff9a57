using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Pipeline;

/// <summary>Timers scheduled from rules (issue 11, first part): what the evaluation keeps, on the delivery's own clock.</summary>
public sealed class TimerSchedulingTests : IDisposable
{
    private readonly TempDirectory _rules = new();

    public void Dispose() => _rules.Dispose();

    private OfflineEvaluator Evaluator() => new(RuleSetCompiler.Compile(_rules.Path), new EvaluationPipeline(PipelineSettings.Default));

    [Fact]
    public void Schedule_IsDueAfterTheDeliveryWasReceived_TheLastSchedulingOfANameWins_AndCancelsAreKept()
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

        var result = Evaluator().Process(delivery);

        Assert.Empty(result.Failures);
        Assert.Equal(
            [("survey", (DateTimeOffset?)(delivery.ReceivedAt + TimeSpan.FromHours(24))), ("audit", new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero)), ("first-response", null)],
            result.TimerChanges.Select(t => (t.Name, t.DueAt)).OrderBy(t => t.DueAt is null).ThenBy(t => t.Name == "audit"));
        Assert.All(result.TimerChanges, t => Assert.Equal(("SurveyAfterClose", 1187), (t.Rule, t.ConversationId)));
        Assert.Equal(3, result.ToRecord().Timers!.Count);
    }

    [Fact]
    public void ARuleThatFailsAfterScheduling_SchedulesNothing_AndBadArgumentsFailItWithAClearMessage()
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

        var result = Evaluator().Process(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Empty(result.TimerChanges);
        Assert.Null(result.ToRecord().Timers);
        Assert.Equal(["NegativeDelay", "SchedulesThenThrows"], result.Failures.Select(f => f.Rule).Order());
        Assert.Contains(result.Failures, f => f.Message.StartsWith("ArgumentException:", StringComparison.Ordinal));
        Assert.Contains(result.Failures, f => f.Message.StartsWith("ArgumentOutOfRangeException:", StringComparison.Ordinal));
        Assert.Single(result.StatusChanges); // the status change still commits
    }

    [Fact]
    public void ANameTooLongOrAConversationIdOfZero_FailsTheRuleNamingTheLimit()
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

        var result = Evaluator().Process(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Empty(result.TimerChanges);
        Assert.Contains("at most 100 characters", Assert.Single(result.Failures, f => f.Rule == "LongName").Message, StringComparison.Ordinal);
        Assert.StartsWith("ArgumentOutOfRangeException:", Assert.Single(result.Failures, f => f.Rule == "NoConversation").Message, StringComparison.Ordinal);
    }
}
