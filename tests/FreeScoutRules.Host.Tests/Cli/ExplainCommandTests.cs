using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>The real <c>freescout-rules explain</c> process.</summary>
public sealed class ExplainCommandTests() : CliTestBase(withSampleRule: true)
{
    [Fact]
    public async Task Explain_NamesTheFirstFailedConditionOfEachRuleThatDidNotFire()
    {
        var file = Events.Add("convo.created", "convo.created").Add("convo.agent.reply.created", "convo.agent.reply.created").Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "explain", "--rules", RulesDirectory, "--events", file, "--line", "2", "--json");

        Assert.Equal(0, result.ExitCode);
        var rules = result.OutputLines.Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(r => r.GetProperty("rule").GetString()!);
        Assert.Equal(5, rules.Count);
        Assert.True(rules["status.changed-from-known-state"].GetProperty("fired").GetBoolean());
        var notify = rules["notify-support-on-close"];
        Assert.False(notify.GetProperty("fired").GetBoolean());
        Assert.Equal("notify.csx", notify.GetProperty("file").GetString());
        Assert.Equal("condition change => (change.To == \"closed\") was false (on StatusChanged)", notify.GetProperty("reason").GetString());
        Assert.Contains("delivery.Event == \"convo.status\"", rules["status.first-seen-on-convo-status"].GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_RuleNeedingAFactThatIsAbsent_SaysWhichFact()
    {
        var file = Events.Add("convo.created", "convo.created").Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "explain", "--rules", RulesDirectory, "--events", file, "--line", "1");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("not fired  notify-support-on-close  (notify.csx): no StatusChanged fact in the session", result.OutputLines);
    }

    [Fact]
    public async Task Explain_LineThatIsNotADelivery_IsAClearError()
    {
        var file = Events.Add("customer.created", "customer.created").Save();

        var missing = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "explain", "--rules", RulesDirectory, "--events", file, "--line", "9");
        var customer = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "explain", "--rules", RulesDirectory, "--events", file, "--line", "1");

        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("has no delivery on line 9", missing.Error, StringComparison.Ordinal);
        Assert.Equal(1, customer.ExitCode);
        Assert.Contains("line 1: not a conversation event", customer.Error, StringComparison.Ordinal);
    }
}
