using System.Text.RegularExpressions;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Docs;

/// <summary>The example alerting rules of docs/prometheus-alerts.yml name only metrics the server exports, from its start.</summary>
[Collection(MetricsCollection.Name)]
public sealed partial class AlertRulesTests
{
    [GeneratedRegex(@"\bfreescout_rules_[a-z_]+")]
    private static partial Regex MetricName();

    [Fact]
    public async Task EveryMetricTheAlertsName_IsExportedByAFreshServer()
    {
        var alerts = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "docs", "prometheus-alerts.yml"));
        var names = MetricName().Matches(alerts).Select(m => m.Value).Distinct(StringComparer.Ordinal).ToList();
        // Scraped as docs/deploy.md's scrape configuration does: with the read-only metrics token.
        const string metricsToken = "prometheus-scrape-token-0123456789-abcXYZ";
        await using var server = await TestServerHost.StartAsync(new() { ["Observability:MetricsToken"] = metricsToken });
        using var prometheus = server.TestServer.CreateClient();
        prometheus.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", metricsToken);

        var metrics = "";
        await Eventually.UntilAsync("every metric the alerts name to be exported", async () =>
        {
            metrics = await prometheus.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            var missing = names.Where(n => !Regex.IsMatch(metrics, $@"^{n}[{{ ]", RegexOptions.Multiline)).ToList();
            return (missing.Count == 0, $"missing: {string.Join(", ", missing)}");
        });

        Assert.True(names.Count >= 10, $"only {names.Count} metric names found in the alerts");
    }
}
