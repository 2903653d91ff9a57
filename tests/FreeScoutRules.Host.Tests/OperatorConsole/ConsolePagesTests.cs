using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.OperatorConsole;

/// <summary>Console pages over plain HTTP (the in-memory server): lookups, customer events, error pages.</summary>
public sealed class ConsolePagesTests
{
    /// <summary>A delivery of conversation <paramref name="id"/> numbered <paramref name="number"/> that changes its status.</summary>
    private static async Task SendAsync(TestServerHost server, int id, int number)
    {
        var json = JsonNode.Parse(SignedDeliveries.Get("convo.status.closed").Body)!.AsObject();
        json["id"] = id;
        json["number"] = number;
        var body = Encoding.UTF8.GetBytes(json.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, (await server.PostAsync("convo.status", body, SignedDeliveries.Sign(body))).StatusCode);
    }

    [Fact]
    public async Task LookingUpANumber_ThatIsAlsoAnotherConversationsId_OffersBoth_AndHashMeansTheNumber()
    {
        await using var server = await TestServerHost.StartAsync();
        await SendAsync(server, 2001, 777);
        await SendAsync(server, 9001, 2001);
        await server.SettledDeliveriesAsync();
        var cookie = await ConsoleClient.SignInAsync(server.Client);

        var both = await ConsoleClient.GetAsync(server.Client, "/conversations?q=2001", cookie);
        var hash = await ConsoleClient.GetAsync(server.Client, "/conversations?q=%232001", cookie);
        var id = await ConsoleClient.GetAsync(server.Client, "/conversations?q=9001", cookie);
        var garbage = await ConsoleClient.GetAsync(server.Client, "/conversations?q=%23BB8", cookie);

        Assert.Equal(HttpStatusCode.OK, both.Status);
        Assert.Contains("href=\"/conversations/2001\"", both.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"/conversations/9001\"", both.Html, StringComparison.Ordinal);
        Assert.Equal("/conversations/9001", hash.Location?.OriginalString);
        Assert.Equal("/conversations/9001", id.Location?.OriginalString);
        Assert.Contains("is not a conversation number (#1187) or id", garbage.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACustomerEvent_ShowsItsPayload_AndSaysItRunsNoRules()
    {
        await using var server = await TestServerHost.StartAsync();
        var answer = await (await server.PostFixtureAsync("customer.updated")).Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        var id = answer.GetProperty("deliveryId").GetInt64();
        await server.SettledDeliveriesAsync();
        var cookie = await ConsoleClient.SignInAsync(server.Client);

        var page = await ConsoleClient.GetAsync(server.Client, $"/deliveries/{id}", cookie);

        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Contains("customer events run no rules", page.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("pruned", page.Html, StringComparison.Ordinal);
        Assert.Contains("&quot;firstName&quot;", page.Html, StringComparison.Ordinal); // the payload, HTML-encoded
    }

    [Fact]
    public async Task TheOverviewAndTheRulesPage_ShowRuleFailuresPerRule_OverTheLastDay()
    {
        await using var server = await TestServerHost.StartAsync(extraRules: new Dictionary<string, string>
        {
            ["bad.csx"] = """
                public class ParsesTheSubject : Rule
                {
                    public override void Define()
                    {
                        Delivery delivery = default!;
                        When().Match(() => delivery, d => int.Parse(d.Conversation.Subject) > 0);
                        Then().Do(ctx => ctx.Enqueue("http", new { url = "http://127.0.0.1:9/x" }));
                    }
                }
                """,
        });
        var cookie = await ConsoleClient.SignInAsync(server.Client);
        var before = await ConsoleClient.GetAsync(server.Client, "/", cookie);
        await server.PostFixtureAsync("convo.created");
        await server.PostFixtureAsync("convo.status.closed");
        var deliveries = await server.SettledDeliveriesAsync();

        var overview = await ConsoleClient.GetAsync(server.Client, "/", cookie);
        var rules = await ConsoleClient.GetAsync(server.Client, "/rules", cookie);

        Assert.Contains("No rule failed in the last 24 hours.", before.Html, StringComparison.Ordinal);
        foreach (var page in new[] { overview.Html, rules.Html })
        {
            Assert.Contains("Rule failures, last 24 hours", page, StringComparison.Ordinal);
            Assert.Matches(@"<td><code>ParsesTheSubject</code></td><td class=""bad"">2</td>", page);
            Assert.Contains($"href=\"/deliveries/{deliveries.Max(d => d.GetProperty("id").GetInt64())}\"", page, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TheRulesPage_ShowsAConciseRulesMisuse_AtItsConciseCall_InTheRuleAuthorsTerms()
    {
        await using var server = await TestServerHost.StartAsync(extraRules: new Dictionary<string, string>
        {
            ["concise.csx"] = """
                // a concise rule with a misspelt status and an action no plugin provides
                public class TellChat() : OpsRule(On.StatusChange(to: "closd")
                    .Do("slak", c => new { text = "closed" }));
                """,
        });
        var cookie = await ConsoleClient.SignInAsync(server.Client);

        var rules = await ConsoleClient.GetAsync(server.Client, "/rules", cookie);

        Assert.Equal(HttpStatusCode.OK, rules.Status);
        var listed = System.Text.RegularExpressions.Regex.Matches(rules.Html, @"<ul class=""diagnostics"">(.*?)</ul>", System.Text.RegularExpressions.RegexOptions.Singleline);
        var diagnostics = Assert.Single(listed).Groups[1].Value;
        Assert.Matches(@"concise\.csx\(2,\d+\): warning FSR0002: [^<]*&#x27;closd&#x27;[^<]*closed", diagnostics);
        Assert.Matches(@"concise\.csx\(3,\d+\): warning FSR0003: [^<]*&#x27;slak&#x27;", diagnostics);
    }

    [Fact]
    public async Task TheOverview_ShowsThisInstance_AndWhoHoldsEachNamedLease()
    {
        await using var server = await TestServerHost.StartAsync();
        var cookie = await ConsoleClient.SignInAsync(server.Client);
        await Eventually.UntilAsync("the retention lease to be held", async () =>
            (await server.Admin.GetFromJsonAsync<System.Text.Json.JsonElement>("/api/status")).GetProperty("leases").GetArrayLength() == 1);
        var self = (await server.Admin.GetFromJsonAsync<System.Text.Json.JsonElement>("/api/status")).GetProperty("instances")[0].GetProperty("id").GetInt64();

        var overview = await ConsoleClient.GetAsync(server.Client, "/", cookie);

        Assert.Contains("<h2>Instances and leases</h2>", overview.Html, StringComparison.Ordinal);
        Assert.Contains($"Instance {self} <code>{Environment.MachineName}:{Environment.ProcessId}</code> (this one)", overview.Html, StringComparison.Ordinal);
        Assert.Matches($@"Lease <strong>retention</strong>: instance {self} \(this one\), epoch \d+, until \d{{4}}-", overview.Html);
    }

    [Fact]
    public async Task AMissingDelivery_AnswersAConsolePageWithAWayBack_WhileTheApiKeepsItsJson()
    {
        await using var server = await TestServerHost.StartAsync();
        var cookie = await ConsoleClient.SignInAsync(server.Client);

        var page = await ConsoleClient.GetAsync(server.Client, "/deliveries/99999", cookie);
        using var api = await server.Admin.GetAsync(new Uri("/api/deliveries/99999", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, page.Status);
        Assert.Contains("Back to the console", page.Html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ARuleThatThrows_IsShownAsFailed_OnTheDeliverysExplanation_NotAsFired()
    {
        const string throws = """
            [Name("throws-on-close")]
            public class ThrowsOnClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => Explode(change));
                }

                private static void Explode(StatusChanged c) => throw new InvalidOperationException($"boom for {c.ConversationId}");
            }
            """;
        await using var server = await TestServerHost.StartAsync(extraRules: new Dictionary<string, string> { ["throws.csx"] = throws });
        var answer = await (await server.PostFixtureAsync("convo.status.closed")).Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        await server.SettledDeliveriesAsync();
        var cookie = await ConsoleClient.SignInAsync(server.Client);

        var page = await ConsoleClient.GetAsync(server.Client, $"/deliveries/{answer.GetProperty("deliveryId").GetInt64()}", cookie);

        Assert.Matches("throws-on-close</code></td><td class=\"muted\">[^<]*</td>\\s*<td class=\"bad\">fired, then failed in [^:]+: [^<]*boom for 1187", page.Html);
    }
}
