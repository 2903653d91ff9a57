// An ops rule, annotated. Copy it into your rules folder and adapt it (the built-in status rules that
// derive StatusChanged are always in force; you need not copy them). Check it with:
//   freescout-rules check --rules rules --plugins plugins
//   freescout-rules test --rules rules --events my-deliveries.jsonl
//
// A rule file is C# script. This rule is a concise rule: a public class deriving from OpsRule, whose base
// argument says what the rule reacts to (On.…), on which conditions, and what it does. The engine turns it
// into an ordinary NRules rule; for what the concise form does not cover, write a class deriving from
// NRules' Rule instead (docs/writing-rules.md, "Rules in NRules' own DSL", where "Notify on close" is a
// rule much like this one). Both kinds can live in one folder. Imported for you: System, System.Linq,
// System.Collections.Generic, System.Text.Json.Nodes, NRules.Fluent.Dsl, FreeScoutRules.FreeScout (the
// payload model and the spellings of statuses and events), FreeScoutRules.Facts, FreeScoutRules.Actions,
// FreeScoutRules.Timers and FreeScoutRules.Ops (OpsRule, On).
// Shared helpers can live in a subfolder and be pulled in with:  #load "lib/helpers.csx"

// The name shown in logs, the admin API and `test` output. Without [Name] it is the class name.
[Name("notify-support-on-close")]
public class NotifySupportOnClose() : OpsRule(
    // What it reacts to: a status change to closed. StatusChanged is derived exactly once per real change by
    // the built-in rules, whether FreeScout said so with convo.status, with a reply, or both.
    On.StatusChange(to: Closed)
        // Ignore closes made through the FreeScout API (our own bot's writes echoed back: loop protection).
        // A condition of your own is any C# over c, what the rule fired on: c.Change (the status change),
        // c.Delivery, c.Conversation, c.Number... (.NotByBot() does the same for the bot user configured in
        // Dispatch:BotUserId.)
        .Where(c => c.Delivery.LatestThread?.Source?.Type != SourceType.Api)
        // What it does: record that "http" (a built-in action) should POST this JSON body to the URL. No I/O
        // happens here: the intent is stored and executed later by the action runner, with retries until it
        // gets a 2xx. Secret.Ref("support_hook_token") records a reference; the value, configured on the
        // server as Secrets:support_hook_token (environment: Secrets__support_hook_token), is put in only when
        // the action runs, so it is never stored, logged or shown.
        .Post("https://hooks.example.com/support",
            c => new { text = $"Conversation #{c.Number} \"{c.Conversation.Subject}\" was closed (was {c.Change.From ?? "unknown"})." },
            headers: new Dictionary<string, string> { ["Authorization"] = $"Bearer {Secret.Ref("support_hook_token")}" }));
