using System.Text;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.Facts;

namespace FreeScoutRules.Engine.Tests.Pipeline;

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

        var withBot = new EvaluationPipeline(PipelineSettings.Default with { BotUserId = 5 });
        var echo = withBot.Evaluate(rules, Note("api", 5), KnownConversation.Unknown(1));
        var human = withBot.Evaluate(rules, Note("web", 3), KnownConversation.Unknown(1));
        var unconfigured = new EvaluationPipeline(PipelineSettings.Default).Evaluate(rules, Note("api", 5), KnownConversation.Unknown(1));

        Assert.Empty(echo.Intents);
        Assert.Single(human.Intents);
        Assert.Single(unconfigured.Intents);
        Assert.Contains(nameof(OwnWrite), echo.Facts);
        Assert.DoesNotContain(nameof(OwnWrite), human.Facts);
    }
}
