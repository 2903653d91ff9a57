// An ops rule, annotated. Copy it into your rules folder and adapt it (the built-in status rules that
// derive StatusChanged are always in force; you need not copy them). Check it with:
//   freescout-rules check --rules rules --plugins plugins
//   freescout-rules test --rules rules --events my-deliveries.jsonl
//
// A rule file is C# script. Every public class deriving from Rule is a rule. These namespaces are
// imported for you: System, System.Linq, System.Collections.Generic, System.Text.Json.Nodes,
// NRules.Fluent.Dsl, FreeScoutRules.FreeScout (the payload model and the spellings of statuses and
// events), FreeScoutRules.Facts (Delivery, PriorState, StatusChanged), FreeScoutRules.Actions.
// Shared helpers can live in a subfolder and be pulled in with:  #load "lib/helpers.csx"

// The name shown in logs, the admin API and `test` output. Without [Name] it is the class name.
[Name("notify-support-on-close")]
public class NotifySupportOnClose : Rule
{
    public override void Define()
    {
        // Variables that the conditions bind. NRules fills them; never assign them yourself.
        StatusChanged change = default!;
        Delivery delivery = default!;

        // Left-hand side: match facts. StatusChanged is derived exactly once per real change by the
        // built-in rules, whether FreeScout said so with convo.status, with a reply, or both.
        When()
            .Match(() => change, c => c.To == ConversationStatus.Closed)
            .Match(() => delivery, d => d.ConversationId == change.ConversationId,
                // Ignore closes made by our own bot through the FreeScout API (loop protection).
                d => d.LatestThread == null || d.LatestThread.Source == null || d.LatestThread.Source.Type != SourceType.Api);

        // Right-hand side: record what should happen. No I/O here: an action intent is stored and
        // executed later by the action runner, with retries until it succeeds. The arguments are an
        // anonymous object (a rule's actions are expression trees, which allow those but not
        // dictionary initialisers); for anything longer, call a static method of your own here.
        // "http" is a built-in action: it POSTs the body as JSON to the URL, retrying until it gets a 2xx.
        // Secret.Ref("support_hook_token") records a reference; the value, configured on the server as
        // Secrets:support_hook_token (environment: Secrets__support_hook_token), is put in only when the
        // action runs, so it is never stored, logged or shown.
        Then()
            .Do(ctx => ctx.Enqueue("http", new
            {
                url = "https://hooks.example.com/support",
                headers = new Dictionary<string, string> { { "Authorization", $"Bearer {Secret.Ref("support_hook_token")}" } },
                body = new
                {
                    text = $"Conversation #{change.Number} \"{delivery.Conversation.Subject}\" was closed (was {change.From ?? "unknown"}).",
                },
            }));
    }
}
