// A satisfaction survey 24 hours after a close, unless the conversation was reopened meanwhile.
[Name("survey-after-close")]
public class SurveyAfterClose() : OpsRule(On.Close().Schedule("survey", hours: 24));

[Name("survey-cancelled-on-reopen")]
public class SurveyCancelledOnReopen() : OpsRule(On.Reopen().Cancel("survey"));

[Name("send-survey")]
public class SendSurvey() : OpsRule(On.Timer("survey").WhenStatus(Closed).Where(c => c.Conversation != null)
    .Post("https://surveys.example.com/send", c => new { email = c.Conversation.Customer.Email, conversation = c.Number }));
