using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>
/// <c>replay</c> and <c>explain</c> evaluate exactly as the server that recorded the history did, given the
/// same rules folder and settings: our own writes echoed back (<c>OwnWrite</c>), intents held back by the
/// runaway limit, and a rule that fails on every delivery.
/// </summary>
public sealed class ReplayFidelityTests : IAsyncLifetime
{
    private const string Rules = """
        public class NotifyOnHumanNote : Rule
        {
            public override void Define()
            {
                Delivery delivery = default!;
                When().Match(() => delivery, d => d.Event == WebhookEvents.NoteCreated).Not<OwnWrite>();
                Then().Do(ctx => ctx.Enqueue("http", new { url = "http://127.0.0.1:9/notes", number = delivery.Conversation.Number }));
            }
        }

        public class Chatty : Rule
        {
            public override void Define()
            {
                Delivery delivery = default!;
                When().Match(() => delivery);
                Then().Do(ctx => ctx.Enqueue("http", new { url = "http://127.0.0.1:9/all", at = delivery.UpdatedAt }));
            }
        }

        public class ParsesTheSubject : Rule
        {
            public override void Define()
            {
                Delivery delivery = default!;
                When().Match(() => delivery, d => int.Parse(d.Conversation.Subject) > 0);
                Then().Do(ctx => ctx.Enqueue("http", new { url = "http://127.0.0.1:9/never" }));
            }
        }
        """;

    /// <summary>The server's settings, given to the CLI the way ops would: through the environment.</summary>
    private static readonly Dictionary<string, string> ServerEnvironment = new()
    {
        ["FREESCOUTRULES_FREESCOUT_BOT_USER_ID"] = "5",
        ["Dispatch__RuleActionLimit"] = "2",
    };

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fsr-fidelity-{Guid.NewGuid():N}");
    private readonly List<long> _ids = [];
    private JsonElement[] _recorded = [];

    private string DataDirectory => Path.Combine(_root, "data");

    private string RulesDirectory => Path.Combine(_root, "rules");

    /// <summary>A note on conversation 1187 written by <paramref name="authorId"/> through <paramref name="source"/>, at second <paramref name="second"/>.</summary>
    private static byte[] Note(string source, int authorId, int second)
    {
        var json = JsonNode.Parse(SignedDeliveries.Get("convo.note.created").Body)!.AsObject();
        json["updatedAt"] = $"2025-06-02T10:00:{second:00}Z";
        var thread = json["_embedded"]!["threads"]![0]!;
        thread["source"]!["type"] = source;
        thread["createdBy"]!["id"] = authorId;
        thread["createdBy"]!["type"] = "user";
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    public async Task InitializeAsync()
    {
        await using var server = await TestServerHost.StartAsync(
            new() { ["Dispatch:BotUserId"] = "5", ["Dispatch:RuleActionLimit"] = "2", ["Actions:PollInterval"] = "00:01:00" },
            new Dictionary<string, string> { ["ops.csx"] = Rules },
            root: _root);
        server.DeleteRootOnDispose = false;
        foreach (var body in new[] { Note("api", 5, 1), Note("web", 3, 2), Note("web", 3, 3) })
        {
            var answer = await (await server.PostAsync("convo.note.created", body, SignedDeliveries.Sign(body))).Content.ReadFromJsonAsync<JsonElement>();
            _ids.Add(answer.GetProperty("deliveryId").GetInt64());
        }

        _recorded = (await server.SettledDeliveriesAsync()).Reverse().ToArray();
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public void TheRecordedHistory_HasAnOwnWrite_AHeldBackIntent_AndAContainedFailure()
    {
        Assert.All(_recorded, d => Assert.Equal("done", d.GetProperty("outcome").GetString()));
        Assert.DoesNotContain(_recorded[0].GetProperty("actionIntents").EnumerateArray(), i => i.GetProperty("rule").GetString() == "NotifyOnHumanNote");
        Assert.Contains(_recorded[1].GetProperty("actionIntents").EnumerateArray(), i => i.GetProperty("rule").GetString() == "NotifyOnHumanNote");
        Assert.Contains(_recorded[2].GetProperty("suppressedIntents").EnumerateArray(), s => s.GetString()!.StartsWith("Rule 'Chatty' already queued 2", StringComparison.Ordinal));
        Assert.All(_recorded, d => Assert.Equal("ParsesTheSubject", Assert.Single(d.GetProperty("ruleFailures").EnumerateArray()).GetProperty("rule").GetString()));
    }

    [Fact]
    public async Task Replay_WithTheServersRulesAndSettings_ReportsNoDifference()
    {
        var result = await CliProcess.RunWithEnvironmentAsync(ServerEnvironment, null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory);

        Assert.Equal("3 deliveries replayed, 3 compared: 0 added, 0 gone, 3 failed", result.OutputLines[^1]);
        Assert.All(result.ErrorLines.Where(l => l.StartsWith("delivery ", StringComparison.Ordinal)), l => Assert.Contains("rule 'ParsesTheSubject'", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Replay_WithoutTheServersSettings_ShowsWhatTheyChanged()
    {
        var result = await CliProcess.RunAsync(null, "replay", "--data-dir", DataDirectory, "--rules", RulesDirectory);

        Assert.Contains(result.OutputLines, l => l.StartsWith($"delivery {_ids[0]} ", StringComparison.Ordinal) && l.Contains("+ action http", StringComparison.Ordinal) && l.EndsWith("(rule NotifyOnHumanNote)", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith($"delivery {_ids[2]} ", StringComparison.Ordinal) && l.EndsWith("(rule Chatty)", StringComparison.Ordinal));
        Assert.Contains("2 added, 0 gone", result.OutputLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_StoredDelivery_NamesTheRulesTheServerRecordedAsFired()
    {
        foreach (var (id, recorded) in _ids.Zip(_recorded))
        {
            var result = await CliProcess.RunWithEnvironmentAsync(ServerEnvironment, null, "explain", "--data-dir", DataDirectory, "--rules", RulesDirectory, "--delivery", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");

            var fired = result.OutputLines.Select(l => JsonDocument.Parse(l).RootElement).Where(r => r.GetProperty("fired").GetBoolean())
                .Select(r => r.GetProperty("rule").GetString()).Order(StringComparer.Ordinal);
            Assert.Equal(recorded.GetProperty("rulesFired").EnumerateArray().Select(r => r.GetString()).Order(StringComparer.Ordinal), fired);
        }

        var echo = await CliProcess.RunWithEnvironmentAsync(ServerEnvironment, null, "explain", "--data-dir", DataDirectory, "--rules", RulesDirectory, "--delivery", _ids[0].ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains(echo.OutputLines, l => l.StartsWith("facts: Delivery, PriorState, OwnWrite;", StringComparison.Ordinal) || l.StartsWith("facts: Delivery, OwnWrite;", StringComparison.Ordinal));
        Assert.Contains(echo.OutputLines, l => l.StartsWith("not fired  NotifyOnHumanNote", StringComparison.Ordinal) && l.EndsWith("[depends on Dispatch:BotUserId = 5]", StringComparison.Ordinal));
    }
}
