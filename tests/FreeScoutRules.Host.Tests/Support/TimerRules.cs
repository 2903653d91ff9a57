namespace FreeScoutRules.Host.Tests.Support;

/// <summary>Rule files with timers that the server and CLI tests share.</summary>
internal static class TimerRules
{
    /// <summary>
    /// A survey 30 minutes after a close, cancelled by a reopen; its handler queues <c>survey-mailer</c> (no plugin
    /// provides it: each attempt ends at once, to be retried later, and no HTTP request runs on a test's fake clock) with
    /// the fact's fields in a text.
    /// </summary>
    public const string Survey = """
        public class SurveyAfterClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then().Do(ctx => ctx.Schedule("survey", change.ConversationId, TimeSpan.FromMinutes(30)));
            }
        }

        public class NoSurveyWhenReopened : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsReopen);
                Then().Do(ctx => ctx.CancelTimer("survey", change.ConversationId));
            }
        }

        public class SendSurvey : Rule
        {
            public override void Define()
            {
                TimerElapsed timer = default!;
                When().Match(() => timer, t => t.Name == "survey");
                Then().Do(ctx => ctx.Enqueue("survey-mailer", new
                {
                    text = $"survey for #{timer.Snapshot!.Number} ({timer.KnownStatus}), number {timer.Number}, {timer.Lateness.TotalMinutes:0} min late",
                }));
            }
        }
        """;
}
