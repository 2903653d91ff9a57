using System.Text.Json.Nodes;
using FreeScoutRules.Actions;

namespace FreeScoutRules.Abstractions.Tests.Actions;

public sealed class ArgumentsJsonTests
{
    private static string Json(object? arguments) => ArgumentsJson.From(arguments).ToJsonString(ArgumentsJson.WriteOptions);

    [Fact]
    public void From_AnonymousObject_KeepsNamesTypesAndNesting()
    {
        var json = Json(new
        {
            text = "Conversation \"#1187\" – closed",
            number = 1187,
            urgent = true,
            ratio = 0.5,
            at = new DateTimeOffset(2025, 6, 2, 10, 26, 37, TimeSpan.Zero),
            tags = new[] { "refund", "vip" },
            nothing = (string?)null,
            user = new { id = 5 },
        });

        Assert.Equal(
            """{"text":"Conversation \"#1187\" – closed","number":1187,"urgent":true,"ratio":0.5,"at":"2025-06-02T10:26:37+00:00","tags":["refund","vip"],"nothing":null,"user":{"id":5}}""",
            json);
    }

    [Fact]
    public void From_NullDictionaryAndJsonObject_AreObjects()
    {
        Assert.Equal("{}", Json(null));
        Assert.Equal("""{"a":1}""", Json(new Dictionary<string, object> { ["a"] = 1 }));
        Assert.Equal("""{"b":"x"}""", Json(new JsonObject { ["b"] = "x" }));
    }

    [Fact]
    public void From_NotAnObject_IsRefusedWithAClearMessage()
    {
        var ex = Assert.Throws<ArgumentException>(() => ArgumentsJson.From("just text"));

        Assert.Contains("must be an object", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void From_SelfReferencingGraph_StopsAtTheDepthLimit()
    {
        var node = new Node();
        node.Next = node;

        var ex = Assert.Throws<ArgumentException>(() => ArgumentsJson.From(node));

        Assert.Contains("nested more than 16 levels", ex.Message, StringComparison.Ordinal);
    }

    private sealed class Node
    {
        public Node? Next { get; set; }
    }
}
