using System.Text.Json.Nodes;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>Writes a deliveries file for <c>freescout-rules test</c> from the fixtures' wire bodies.</summary>
internal sealed class JsonLinesFile : IDisposable
{
    private readonly List<string> _lines = [];

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"fsr-{Guid.NewGuid():N}.jsonl");

    public JsonLinesFile Add(string eventName, string fixture)
    {
        var body = JsonNode.Parse(File.ReadAllBytes(System.IO.Path.Combine(AppContext.BaseDirectory, "fixtures", "freescout", "wire", fixture + ".body")));
        _lines.Add(new JsonObject { ["event"] = eventName, ["body"] = body }.ToJsonString());
        return this;
    }

    public JsonLinesFile AddRaw(string line)
    {
        _lines.Add(line);
        return this;
    }

    public string Save()
    {
        File.WriteAllLines(Path, _lines);
        return Path;
    }

    public void Dispose() => File.Delete(Path);
}
