using System.Text;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Processing;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Tests.Processing;

/// <summary>Loop protection: our own API writes echoed back by FreeScout are recognisable, so rules can ignore them.</summary>
public sealed class OwnWriteTests : IDisposable
{
    private readonly TempDirectory _rules = new();

    public void Dispose() => _rules.Dispose();

    private static Delivery Note(string sourceType, int authorId)
    {
        var json = Fixtures.Json("convo.note.created");
        var thread = json["_embedded"]!["threads"]![0]!;
        thread["source"]!["type"] = sourceType;
        thread["createdBy"]!["id"] = authorId;
        thread["createdBy"]!["type"] = "user";
        var conversation = new DeliveryParser().Parse("convo.note.created", Encoding.UTF8.GetBytes(json.ToJsonString())).Delivery!.Conversation!;
        return new Delivery("d", "convo.note.created", Deliveries.T0, conversation);
    }

    [Theory]
    [InlineData("api", 5, true)]
    [InlineData("web", 5, false)]
    [InlineData("api", 3, false)]
    public void OwnWrite_IsAnApiThreadByTheBot(string source, int author, bool own)
    {
        Assert.Equal(own, OwnWrite.IsOwnWrite(Note(source, author), botUserId: 5));
    }

    [Fact]
    public void RuleRequiringNoOwnWrite_IgnoresOurEcho()
    {
        File.Copy(Path.Combine(Fixtures.RulesDirectory, "status-change.csx"), Path.Combine(_rules.Path, "status-change.csx"));
        _rules.Write("reply.csx", """
            public class ReactToNotes : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery, d => d.Event == WebhookEvents.NoteCreated).Not<OwnWrite>();
                    Then().Do(ctx => ctx.Enqueue("x"));
                }
            }
            """);
        var rules = RuleSetCompiler.Compile(_rules.Path);

        var echo = RuleEvaluator.Evaluate(rules, Note("api", 5), null, botUserId: 5);
        var human = RuleEvaluator.Evaluate(rules, Note("web", 3), null, botUserId: 5);
        var unconfigured = RuleEvaluator.Evaluate(rules, Note("api", 5), null);

        Assert.Empty(echo.Intents);
        Assert.Single(human.Intents);
        Assert.Single(unconfigured.Intents);
    }
}
