using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>Retention through the server: bodies go after Retention:Bodies, and replay says so plainly.</summary>
public sealed class RetentionTests
{
    [Fact]
    public async Task PrunedBodies_AreReportedByReplay_AndTheStatusShowsTheDatabaseSize()
    {
        var root = Path.Combine(Path.GetTempPath(), $"fsr-retention-{Guid.NewGuid():N}");
        await using (var server = await TestServerHost.StartAsync(
            new() { ["Retention:Bodies"] = "00:00:01", ["Retention:Records"] = "00:00:00", ["Retention:Interval"] = "00:00:00.200" }, root: root))
        {
            server.DeleteRootOnDispose = false;
            await server.PostFixtureAsync("convo.created");
            await server.PostFixtureAsync("convo.status.closed");
            await server.SettledDeliveriesAsync();
            // One pass may find one of them old enough and the next pass the other: count over the passes.
            await Eventually.UntilAsync("retention to prune both bodies", () =>
                server.Logs.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"Retention: pruned 0 old delivery records and the bodies of (\d+) deliveries"))
                    .Where(m => m.Success).Sum(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)) == 2);

            var status = await server.Admin.GetFromJsonAsync<JsonElement>("/api/status");
            Assert.True(status.GetProperty("storage").GetProperty("sizeBytes").GetInt64() > 0);
            Assert.Equal(2, (await server.Admin.GetFromJsonAsync<JsonElement>("/api/deliveries")).GetProperty("items").GetArrayLength());
        }

        try
        {
            var replay = await CliProcess.RunAsync(null, "replay", "--data-dir", Path.Combine(root, "data"), "--rules", Path.Combine(root, "rules"));

            Assert.Contains("2 deliveries of this range have no body any more (pruned after Retention:Bodies)", replay.Error, StringComparison.Ordinal);
            Assert.Equal("0 deliveries replayed, 0 compared: 0 added, 0 gone, 0 failed", replay.OutputLines[^1]);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
