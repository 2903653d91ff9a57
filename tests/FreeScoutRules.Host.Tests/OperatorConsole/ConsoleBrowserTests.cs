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
    private ServeProcess _server = null!;
    private Browser _browser = null!;

    public async Task InitializeAsync()
    {
        _server = await ServeProcess.StartAsync(_root);
        _browser = Browser.Start();
    }

    public async Task DisposeAsync()
    {
        _browser.Dispose();
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private Uri Page(string path) => new(_server.Client.BaseAddress!, path);

    private void SignIn(string token = TestServerHost.AdminToken)
    {
        _browser.GoTo(Page("/signin"));
        _browser.Find("#token").SendKeys(token);
        _browser.Find("button[type=submit]").Click();
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
        _browser.Screenshot("overview");
        _browser.Find("header.top form button").Click();
        var afterSignOut = _browser.Url.AbsolutePath;
        _browser.GoTo(Page("/conversations"));

        Assert.Contains("That is not the admin token.", refused, StringComparison.Ordinal);
        Assert.Contains("deliveries processed", overview, StringComparison.Ordinal);
        Assert.Contains("Rules in force", overview, StringComparison.Ordinal);
        Assert.Equal("/signin", afterSignOut);
        Assert.Equal("/signin", _browser.Url.AbsolutePath);
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
}
