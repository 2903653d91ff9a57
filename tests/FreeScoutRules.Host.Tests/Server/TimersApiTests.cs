using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>Timers scheduled by a rule in <c>serve</c> (issue 11): stored with the delivery, listed by the admin API by state.</summary>
public sealed class TimersApiTests
{
    private const string SurveyAfterClose = """
        public class SurveyAfterClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.IsClose);
                Then().Do(ctx => ctx.Schedule("survey", change.ConversationId, TimeSpan.FromHours(24)));
            }
        }
        """;

    [Fact]
    public async Task ARuleSchedulesATimer_ItIsInTheDeliverysRecord_AndListedForAdminsOnly()
    {
        await using var server = await TestServerHost.StartAsync(extraRules: new Dictionary<string, string> { ["survey.csx"] = SurveyAfterClose });

        await server.PostFixtureAsync("convo.status.closed");
        var delivery = Assert.Single(await server.SettledDeliveriesAsync());
        var timers = await server.Admin.GetFromJsonAsync<JsonElement>("/api/timers?conversationId=1187");

        var recorded = Assert.Single(delivery.GetProperty("timers").EnumerateArray());
        Assert.Equal(("SurveyAfterClose", "survey"), (recorded.GetProperty("rule").GetString(), recorded.GetProperty("name").GetString()));
        var timer = Assert.Single(timers.EnumerateArray());
        Assert.Equal(("survey", 1187, 1, "pending"), (timer.GetProperty("name").GetString(), timer.GetProperty("conversationId").GetInt32(), timer.GetProperty("number").GetInt32(), timer.GetProperty("state").GetString()));
        Assert.Equal(delivery.GetProperty("receivedAt").GetDateTimeOffset() + TimeSpan.FromHours(24), timer.GetProperty("dueAt").GetDateTimeOffset(), TimeSpan.FromMilliseconds(1));
        Assert.Equal(delivery.GetProperty("id").GetInt64(), timer.GetProperty("deliveryId").GetInt64());
        Assert.Empty((await server.Admin.GetFromJsonAsync<JsonElement>("/api/timers?dueBefore=2000-01-01T00:00:00Z")).EnumerateArray());
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.GetAsync("/api/timers")).StatusCode);
        Assert.Empty((await server.Admin.GetFromJsonAsync<JsonElement>("/api/timers?state=fired")).EnumerateArray());
        Assert.Single((await server.Admin.GetFromJsonAsync<JsonElement>("/api/timers?state=all&conversationId=1187")).EnumerateArray());
        var bad = await server.Admin.GetAsync("/api/timers?state=done");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("state must be pending, fired, cancelled or all", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
