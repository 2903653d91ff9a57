using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.OperatorConsole;

/// <summary>
/// The operator console in a real browser (Debian's headless Chromium through Selenium) against the real
/// <c>serve</c> process: signing in and out, the conversation timeline of a Send &amp; Close, and a payload's
/// markup shown as text. Each page visited is saved as a screenshot (docs/console/ holds the current ones).
/// </summary>
public sealed class ConsoleBrowserTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-console-{Guid.NewGuid():N}");
    private HttpReceiver _receiver = null!;
    private ServeProcess _server = null!;
    private Browser _browser = null!;

    public async Task InitializeAsync()
    {
        // A rule that notifies a local receiver on every close (through the built-in http action), which the
        // dead-letter test makes refuse once.
        _receiver = await HttpReceiver.StartAsync();
        Directory.CreateDirectory(Path.Combine(_root, "rules"));
        await File.WriteAllTextAsync(Path.Combine(_root, "rules", "notify.csx"), $$"""
            [Name("notify-on-close")]
            public class NotifyOnClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Enqueue("http", new { url = "{{_receiver.Address}}closed", body = new { conversation = change.ConversationId } }));
                }
            }
            """);
        _server = await ServeProcess.StartAsync(_root, new Dictionary<string, string>
        {
            ["Actions__PollInterval"] = "00:00:00.100",
            ["Actions__MaxAttempts"] = "1",
        });
        _browser = Browser.Start();
    }

    public async Task DisposeAsync()
    {
        _browser.Dispose();
        await _server.DisposeAsync();
        await _receiver.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private Uri Page(string path) => new(_server.Client.BaseAddress!, path);

    private void SignIn(string token = TestServerHost.AdminToken)
    {
        _browser.GoTo(Page("/signin"));
        _browser.Find("#token").SendKeys(token);
        _browser.Find("button[type=submit]").Click();
        _browser.WaitUntil("the sign-in to be answered", () => _browser.Url.AbsolutePath != "/signin" || _browser.FindAll(".error").Count > 0);
    }

    private async Task SendAsync(string eventName, byte[] body)
    {
        using var response = await _server.PostAsync(eventName, body, SignedDeliveries.Sign(body));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public void SignInAndOut_TheConsoleOpensOnlyWithTheAdminToken()
    {
        _browser.GoTo(Page("/"));
        Assert.Equal("/signin", _browser.Url.AbsolutePath); // nothing without signing in
        _browser.Screenshot("signin");
        SignIn("not-the-token-at-all");
        var refused = _browser.Text;

        SignIn();
        var overview = _browser.Text;
        _browser.Find("header.top form button").Click();
        _browser.WaitUntil("the sign-out", () => _browser.Url.AbsolutePath == "/signin");
        var afterSignOut = _browser.Url.AbsolutePath;
        _browser.GoTo(Page("/conversations"));

        Assert.Contains("That is not the admin token.", refused, StringComparison.Ordinal);
        Assert.Contains("deliveries processed", overview, StringComparison.Ordinal);
        Assert.Contains("Rules in force", overview, StringComparison.Ordinal);
        Assert.Equal("/signin", afterSignOut);
        Assert.Equal("/signin", _browser.Url.AbsolutePath);
    }

    [Fact]
    public void AFormPostedWithoutItsAntiForgeryToken_IsRefused_AndNothingChanges()
    {
        SignIn();
        _browser.GoTo(Page("/signout"));
        // What a forged post from another site looks like: the same form without the token this page was given.
        _browser.Driver.ExecuteScript("document.querySelectorAll('input[name=__RequestVerificationToken]').forEach(i => i.remove());");
        _browser.Find("main form button").Click();
        _browser.WaitUntil("the answer to the forged post", () => _browser.FindAll("main form").Count == 0);
        var answer = _browser.Driver.PageSource;
        _browser.GoTo(Page("/"));

        Assert.DoesNotContain("Overview", answer, StringComparison.Ordinal);
        Assert.Equal("/", _browser.Url.AbsolutePath); // still signed in: the forged sign-out did nothing
    }

    [Fact]
    public async Task Timeline_OfASendAndClose_ShowsBothDeliveriesAndOneStatusChange()
    {
        var created = SignedDeliveries.Get("convo.created");
        await SendAsync(created.Event, created.Body);
        var status = SignedDeliveries.Get("convo.status.closed");
        await SendAsync(status.Event, status.Body);
        var reply = SignedDeliveries.Get("convo.agent.reply.created.closed");
        await SendAsync(reply.Event, reply.Body);
        await _server.SettledDeliveriesAsync(TimeSpan.FromSeconds(30));

        SignIn();
        _browser.GoTo(Page("/conversations"));
        _browser.Find("#q").SendKeys("1187");
        _browser.Find("button.primary").Click();
        _browser.WaitUntil("the timeline", () => _browser.Url.AbsolutePath == "/conversations/1187");
        _browser.Screenshot("conversation-timeline");

        Assert.Equal("/conversations/1187", _browser.Url.AbsolutePath);
        var rows = _browser.FindAll("table.timeline tbody tr");
        Assert.Equal(3, rows.Count);
        Assert.Contains("convo.status", rows.ElementAt(1).Text, StringComparison.Ordinal);
        Assert.Contains("convo.agent.reply.created", rows.ElementAt(2).Text, StringComparison.Ordinal);
        var change = Assert.Single(_browser.FindAll(".status-change"));
        Assert.Contains("active → closed", change.Text, StringComparison.Ordinal);
        Assert.Contains("via convo.status", change.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MarkupInAPayload_IsShownAsText_NeverRun()
    {
        var json = JsonNode.Parse(SignedDeliveries.Get("convo.status.closed").Body)!.AsObject();
        json["id"] = 4242;
        json["number"] = 4242;
        json["subject"] = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\">";
        json["customer"]!["email"] = "<b>bold@example.com</b>";
        var body = Encoding.UTF8.GetBytes(json.ToJsonString());
        await SendAsync("convo.status", body);
        await _server.SettledDeliveriesAsync(TimeSpan.FromSeconds(30));

        SignIn();
        _browser.GoTo(Page("/conversations/4242"));
        _browser.Screenshot("markup-as-text");

        var heading = _browser.Find("h1").Text;
        Assert.Contains("<script>document.title='owned'</script>", heading, StringComparison.Ordinal);
        Assert.Contains("<b>bold@example.com</b>", heading, StringComparison.Ordinal);
        Assert.NotEqual("owned", _browser.Driver.Title);
        Assert.Empty(_browser.FindAll("h1 script, h1 img, h1 b"));
    }

    [Fact]
    public async Task Deliveries_AreFilteredByEvent_AndADeliveryShowsItsPayloadAndEveryRule()
    {
        foreach (var name in new[] { "convo.created", "convo.status.closed", "convo.note.created" })
        {
            var (eventName, body, _) = SignedDeliveries.Get(name);
            await SendAsync(eventName, body);
        }

        await _server.SettledDeliveriesAsync(TimeSpan.FromSeconds(30));
        SignIn();
        _browser.Screenshot("overview");
        _browser.GoTo(Page("/deliveries"));
        var all = _browser.FindAll("table.deliveries tbody tr").Count;
        _browser.Find("select[name=event] option[value='convo.status']").Click();
        _browser.Find("form.filters button").Click();
        _browser.WaitUntil("the filtered list", () => _browser.Url.Query.Contains("event=", StringComparison.Ordinal));
        var filterUrl = _browser.Url;
        _browser.Screenshot("deliveries");
        var filtered = _browser.FindAll("table.deliveries tbody tr");
        var only = Assert.Single(filtered);
        only.FindElement(OpenQA.Selenium.By.CssSelector("a")).Click();
        _browser.WaitUntil("the delivery's page", () => _browser.FindAll("details pre").Count > 0);
        _browser.Screenshot("delivery");

        Assert.Equal(3, all);
        Assert.Contains("event=convo.status", filterUrl.Query, StringComparison.Ordinal);
        Assert.Contains("active → closed", _browser.Find(".status-change").Text, StringComparison.Ordinal);
        Assert.Contains("\"status\": \"closed\"", _browser.Find("details pre").Text, StringComparison.Ordinal);
        var explanation = _browser.FindAll("table.explanation tbody tr").Select(r => r.Text).ToList();
        Assert.Contains(explanation, r => r.Contains("status.changed-from-known-state", StringComparison.Ordinal) && r.EndsWith("fired", StringComparison.Ordinal));
        Assert.Contains(explanation, r => r.Contains("status.first-seen-on-convo-status", StringComparison.Ordinal) && !r.EndsWith("fired", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ADeadAction_RetriedFromTheConsole_SucceedsAgainstTheReceiver()
    {
        _receiver.Answer(400); // the first attempt is refused for good: with one attempt allowed, a dead letter
        var (eventName, body, _) = SignedDeliveries.Get("convo.status.closed");
        await SendAsync(eventName, body);
        await Eventually.UntilAsync("the notification to be dead", async () =>
            (await _server.Admin.GetStringAsync("/api/actions?state=dead")).Contains("notify-on-close", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

        SignIn();
        _browser.GoTo(Page("/actions?state=dead"));
        _browser.Screenshot("actions-dead");
        var row = Assert.Single(_browser.FindAll("table.actions tbody tr"));
        Assert.Contains("400", row.Text, StringComparison.Ordinal);
        row.FindElement(OpenQA.Selenium.By.CssSelector("input[type=checkbox]")).Click();
        _browser.Find("#retry-selected").Click();
        _browser.WaitUntil("the retry's answer", () => _browser.FindAll("[role=status]").Count > 0);
        var message = _browser.Find("[role=status]").Text;
        await Eventually.UntilAsync("the retried notification to be done", async () =>
            (await _server.Admin.GetStringAsync("/api/actions?state=done")).Contains("notify-on-close", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        _browser.GoTo(Page("/actions?state=done"));
        _browser.Screenshot("actions-done");

        Assert.Equal("1 of 1 put back in line.", message);
        Assert.Equal(2, _receiver.Requests.Count(r => r.Path == "/closed"));
        Assert.Contains("done", _browser.Find("table.actions tbody tr").Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARuleThatDoesNotCompile_IsShownWithItsDiagnostic_AndTheRulesInForceKeepRunning()
    {
        await File.WriteAllTextAsync(Path.Combine(_root, "rules", "broken.csx"), "public class Broken : Rule\n{\n    public override void Define() { When().Match<Delivery>(d => d.NoSuchThing); }\n}\n");
        await Eventually.UntilAsync("the server to refuse the broken rule file", async () =>
            (await _server.Admin.GetStringAsync("/api/rules")).Contains("broken.csx", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        SignIn();
        _browser.GoTo(Page("/rules"));
        _browser.Screenshot("rules");

        var failed = Assert.Single(_browser.FindAll("ul.diagnostics.failed li")).Text;
        Assert.Matches(@"broken\.csx\(3,\d+\): error CS\d+: ", failed);
        Assert.Contains("notify-on-close", _browser.Text, StringComparison.Ordinal); // the generation in force, still running
    }
}
