using System.Text.Json;
using System.Text.Json.Nodes;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>The sample FreeScout deliveries of tests/fixtures/freescout (copied from shared/fixtures).</summary>
internal static class Fixtures
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures", "freescout");

    public static string RulesDirectory => Path.Combine(AppContext.BaseDirectory, "rules");

    /// <summary>Every signed wire delivery: (fixture name, X-FreeScout-Event, exact body bytes).</summary>
    public static IEnumerable<(string Name, string Event, byte[] Body)> WireDeliveries()
    {
        using var signatures = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Directory, "wire", "signatures.json")));
        foreach (var delivery in signatures.RootElement.GetProperty("deliveries").EnumerateObject())
        {
            var file = delivery.Value.GetProperty("file").GetString()!;
            var eventName = delivery.Value.GetProperty("headers").GetProperty("X-FreeScout-Event").GetString()!;
            yield return (delivery.Name, eventName, File.ReadAllBytes(Path.Combine(Directory, file)));
        }
    }

    public static byte[] Wire(string name) => File.ReadAllBytes(Path.Combine(Directory, "wire", name + ".body"));

    /// <summary>A fixture body as a mutable JSON tree, to derive variants from.</summary>
    public static JsonObject Json(string name) => JsonNode.Parse(Wire(name))!.AsObject();
}
