using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Actions;

namespace FreeScoutRules.Engine.Tests.Actions;

public sealed class SecretStoreTests
{
    private readonly SecretStore _store = new(new Dictionary<string, string> { ["hook_token"] = "v-123", ["other"] = "o\"q" });

    [Fact]
    public void Resolve_ReplacesReferencesInStringValues_AtAnyDepth_AndKeepsTheRest()
    {
        var arguments = $$"""{"url":"https://x/{{Secret.Ref("other")}}","headers":{"Authorization":"Bearer {{Secret.Ref("hook_token")}}"},"n":[1,"{{Secret.Ref("hook_token")}}"],"ok":true}""";

        Assert.True(_store.TryResolve(arguments, out var resolved, out var unknown));

        Assert.Empty(unknown);
        Assert.Equal("""{"url":"https://x/o\"q","headers":{"Authorization":"Bearer v-123"},"n":[1,"v-123"],"ok":true}""", resolved);
    }

    [Fact]
    public void Resolve_UnknownName_FailsNamingIt()
    {
        Assert.False(_store.TryResolve("""{"a":"secret://nope","b":"secret://hook_token"}""", out _, out var unknown));

        Assert.Equal(["nope"], unknown);
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
