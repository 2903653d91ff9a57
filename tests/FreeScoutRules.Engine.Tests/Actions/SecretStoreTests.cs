using System.Text.Json.Nodes;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;

namespace FreeScoutRules.Engine.Tests.Actions;

/// <summary>
/// Secrets go only where the rule put them: <see cref="Secret.Ref"/>'s markers become places when the arguments are
/// recorded, and the store puts values at those places and nowhere else; text that looks like a reference is text.
/// </summary>
public sealed class SecretStoreTests
{
    private readonly SecretStore _store = new(new Dictionary<string, string> { ["hook_token"] = "v-123", ["other"] = "o\"q" });

    /// <summary>What <c>ctx.Enqueue</c> records for <paramref name="arguments"/>: the JSON and the places.</summary>
    private static (string Arguments, string? Places) Record(object arguments)
    {
        var json = ArgumentsJson.From(arguments);
        var places = SecretPlaces.Extract(json);
        return (json.ToJsonString(ArgumentsJson.WriteOptions), places);
    }

    [Fact]
    public void Recorded_ArgumentsHoldTheReference_AndThePlacesSayWhere()
    {
        var (arguments, places) = Record(new
        {
            url = $"https://x/{Secret.Ref("other")}",
            headers = new Dictionary<string, string> { { "Authorization", $"Bearer {Secret.Ref("hook_token")}" } },
            n = new object[] { 1, Secret.Ref("hook_token") },
        });

        Assert.Equal("""{"url":"https://x/secret://other","headers":{"Authorization":"Bearer secret://hook_token"},"n":[1,"secret://hook_token"]}""", arguments);
        Assert.Equal([("/url", "other"), ("/headers/Authorization", "hook_token"), ("/n/1", "hook_token")], SecretStore.Places(places));
        Assert.DoesNotContain(Secret.Nonce, arguments + places, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_PutsValuesAtThePlaces_AtAnyDepth_AndKeepsTheRest()
    {
        var (arguments, places) = Record(new
        {
            url = $"https://x/{Secret.Ref("other")}",
            headers = new Dictionary<string, string> { { "Authorization", $"Bearer {Secret.Ref("hook_token")}" } },
            n = new object[] { 1, Secret.Ref("hook_token") },
            ok = true,
            two = $"{Secret.Ref("hook_token")}+{Secret.Ref("other")}",
        });

        var resolution = _store.Resolve(arguments, places);

        Assert.Empty(resolution.Unknown);
        Assert.True(resolution.CarriesSecrets);
        Assert.Equal("""{"url":"https://x/o\"q","headers":{"Authorization":"Bearer v-123"},"n":[1,"v-123"],"ok":true,"two":"v-123+o\"q"}""", resolution.Arguments);
    }

    [Theory]
    [InlineData("Please quote secret://hook_token in your reply")]
    [InlineData("secret://hook_token")]
    [InlineData("SECRET://hook_token")]
    [InlineData("secret%3A%2F%2Fhook_token")]
    [InlineData("Refund secret://nope")]
    [InlineData("\uE000" + "00000000000000000000000000000000:hook_token\uE001")] // a forged marker: another nonce
    public void TextFromTheData_ThatLooksLikeAReference_IsSentAsItIs_AndCannotFailTheIntent(string customerText)
    {
        var (arguments, places) = Record(new
        {
            headers = new Dictionary<string, string> { { "Authorization", $"Bearer {Secret.Ref("hook_token")}" } },
            body = new { text = $"Conversation closed: {customerText}", name = customerText, fields = new[] { customerText } },
        });

        var resolution = _store.Resolve(arguments, places);

        Assert.Empty(resolution.Unknown);
        var resolved = JsonNode.Parse(resolution.Arguments!)!;
        Assert.Equal("Bearer v-123", (string?)resolved["headers"]!["Authorization"]);
        Assert.Equal($"Conversation closed: {customerText}", (string?)resolved["body"]!["text"]);
        Assert.Equal(customerText, (string?)resolved["body"]!["name"]);
        Assert.Equal(customerText, (string?)resolved["body"]!["fields"]![0]);
        Assert.DoesNotContain("v-123", resolved["body"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutPlaces_NothingIsResolved_AndNothingCarriesSecrets()
    {
        var (arguments, places) = Record(new { text = "secret://hook_token" });

        var resolution = _store.Resolve(arguments, places);

        Assert.Null(places);
        Assert.Equal(arguments, resolution.Arguments);
        Assert.False(resolution.CarriesSecrets);
    }

    [Fact]
    public void Resolve_UnknownNamePutByTheRule_FailsNamingIt()
    {
        var (arguments, places) = Record(new { a = Secret.Ref("nope"), b = Secret.Ref("hook_token") });

        var resolution = _store.Resolve(arguments, places);

        Assert.Null(resolution.Arguments);
        Assert.Equal(["nope"], resolution.Unknown);
    }

    [Fact]
    public void Legacy_IntentsRecordedBeforePlaces_ResolveEveryReferenceShapedText_AsTheyDid()
    {
        var resolution = _store.Resolve("""{"a":"Bearer secret://hook_token","b":["secret://other"]}""", SecretPlaces.Legacy);

        Assert.Equal("""{"a":"Bearer v-123","b":["o\"q"]}""", resolution.Arguments);
        Assert.True(resolution.CarriesSecrets);
        Assert.Equal(["nope"], _store.Resolve("""{"a":"secret://nope"}""", SecretPlaces.Legacy).Unknown);
        Assert.False(_store.Resolve("""{"a":"none"}""", SecretPlaces.Legacy).CarriesSecrets);
    }

    [Fact]
    public void Places_ThatDoNotFitTheArguments_AreRefused()
    {
        var (_, places) = Record(new { a = $"x {Secret.Ref("hook_token")}" });

        Assert.Throws<FormatException>(() => _store.Resolve("""{"a":"x changed by hand"}""", places));
        Assert.Throws<FormatException>(() => _store.Resolve("""{"b":"x secret://hook_token"}""", places));
        Assert.Throws<FormatException>(() => _store.Resolve("""{"a":"x secret://hook_token"}""", "not json"));
        Assert.Throws<FormatException>(() => _store.Resolve("""{"a":5}""", places)); // a place that is no string any more
    }

    [Fact]
    public void Marker_InAPropertyName_IsRefused() =>
        Assert.Throws<ArgumentException>(() => Record(new Dictionary<string, string> { { Secret.Ref("hook_token"), "x" } }));

    [Fact]
    public void Recording_AJsonObject_DoesNotChangeTheRulesObject()
    {
        var given = new JsonObject { ["a"] = Secret.Ref("hook_token") };

        var (arguments, places) = Record(given);

        Assert.Equal("""{"a":"secret://hook_token"}""", arguments);
        Assert.NotNull(places);
        Assert.Equal(Secret.Ref("hook_token"), (string?)given["a"]);
    }

    [Fact]
    public void Redact_ReplacesEveryValueByItsReference()
    {
        Assert.Equal("https://x/secret://hook_token answered 400", _store.Redact("https://x/v-123 answered 400"));
        Assert.Null(_store.Redact(null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a/b")]
    [InlineData("a-b")]
    public void Ref_RefusesNamesThatCannotBeConfigured(string name) =>
        Assert.Throws<ArgumentException>(() => Secret.Ref(name));
}
