// samples/timers/first-response.concise.csx: first response due in 4 business hours, escalated when missed
[Name("first-response-clock")]
public class FirstResponseClock() : OpsRule(On.NewConversation().FromCustomer().Schedule("first-response", hours: 4, businessHours: "support"));

[Name("first-response-given")]
public class FirstResponseGiven() : OpsRule(On.AgentReply().Cancel("first-response"));

[Name("first-response-missed")]
public class FirstResponseMissed() : OpsRule(On.Timer("first-response").UnlessStatus(Closed)
    .Post("https://hooks.example.com/team-lead", c => new { text = $"#{c.Number} has waited 4 business hours for a first response" }));
