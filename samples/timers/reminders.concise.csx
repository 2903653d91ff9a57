// samples/timers/reminders.concise.csx: remind the assignee at 12, 24 and 48 hours
[Name("reminders-start")]
public class RemindersStart() : OpsRule(On.Event(WebhookEvents.ConversationCreated, WebhookEvents.CustomerReplyCreated)
    .Schedule("reminder-12h", hours: 12).Schedule("reminder-24h", hours: 24).Schedule("reminder-48h", hours: 48));

[Name("reminders-stop")]
public class RemindersStop() : OpsRule(On.AgentReply().Cancel("reminder-12h", "reminder-24h", "reminder-48h"));

[Name("remind-assignee")]
public class RemindAssignee() : OpsRule(On.Timer("reminder-12h", "reminder-24h", "reminder-48h").WhenStatus(Active).Assigned()
    .Where(c => c.Timer.Lateness < TimeSpan.FromHours(6))
    .Post("https://hooks.example.com/remind", c => new { to = c.Conversation.Assignee.Email, text = $"#{c.Number} waits for your answer ({c.Timer.Name})" }));
