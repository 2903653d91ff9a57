// samples/timers/auto-close.concise.csx: close after 7 days pending without a customer reply, with a note first
[Name("auto-close-start")]
public class AutoCloseStart() : OpsRule(On.StatusChange(to: Pending).Schedule("auto-close-warning", days: 6).Cancel("auto-close"));

[Name("auto-close-stop")]
public class AutoCloseStop() : OpsRule(On.StatusChange(from: Pending).Cancel("auto-close-warning", "auto-close"));

[Name("auto-close-warn")]
public class AutoCloseWarn() : OpsRule(On.Timer("auto-close-warning").WhenStatus(Pending)
    .Note("No reply for 6 days: this conversation closes tomorrow.").Schedule("auto-close", days: 1));

[Name("auto-close")]
public class AutoClose() : OpsRule(On.Timer("auto-close").WhenStatus(Pending).SetStatus(Closed));
