// When a conversation closes (not by our own bot), POST a message to the support chat's webhook.
// Change the URL and the text, then: bash .ci/check.sh (README.md). More: docs/writing-rules.md of FreeScoutRules.
public class NotifySupportOnClose() : OpsRule(On.Close().NotByBot()
    .Post("https://hooks.example.com/support", c => new { text = $"#{c.Number} \"{c.Conversation.Subject}\" closed by {c.Change.By?.FirstName ?? "someone"}" }));
