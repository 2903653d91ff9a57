using System.Net.Http.Json;
using System.Text.Json;
using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>Hot reload through the server: a change goes live, a broken change keeps the last good rules.</summary>
[Collection(MetricsCollection.Name)]
public sealed class HotReloadTests : IAsyncLifetime
{
    private const string CloseRule = """
        public class TellSlackOnClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.To == ConversationStatus.Closed);
                Then().Do(ctx => ctx.Enqueue("slack", new { number = change.Number }));
            }
        }
        """;

    private TestServerHost _server = null!;

    private string RulesDirectory => Path.Combine(_server.Root, "rules");

    public async Task InitializeAsync() => _server = await TestServerHost.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<JsonElement> RulesAsync() => await _server.Admin.GetFromJsonAsync<JsonElement>("/api/rules");

    /// <summary>Polls /api/rules until <paramref name="done"/> holds (the watcher's debounce is 200 ms); throws naming <paramref name="condition"/>.</summary>
    private async Task<JsonElement> WaitForRulesAsync(string condition, Func<JsonElement, bool> done)
    {
        JsonElement rules = default;
        await Eventually.UntilAsync(condition, async () =>
        {
            rules = await RulesAsync();
            return (done(rules), $"/api/rules showed {Describe(rules)}");
        }, TimeSpan.FromSeconds(20));
        return rules;
    }

    private Task<JsonElement> WaitForRuleAsync(string name) =>
        WaitForRulesAsync($"the rule '{name}' to go live", r => HasRule(r, name));

    private Task<JsonElement> WaitForReloadFailureAsync() =>
        WaitForRulesAsync("a failed reload to be reported in lastFailure", r => r.GetProperty("lastFailure").ValueKind == JsonValueKind.Object);

    /// <summary>The generation, the rules and the last failure's diagnostics, for a wait's failure message.</summary>
    private static string Describe(JsonElement rules)
    {
        var names = string.Join(", ", rules.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        var failure = rules.GetProperty("lastFailure");
        var diagnostics = failure.ValueKind == JsonValueKind.Object && failure.TryGetProperty("diagnostics", out var list)
            ? string.Join(" | ", list.EnumerateArray().Select(d => d.GetString()))
            : "none";
        return $"generation {rules.GetProperty("generation").GetString()}, rules [{names}], last failure: {diagnostics}";
    }

    private static bool HasRule(JsonElement rules, string name) =>
        rules.GetProperty("rules").EnumerateArray().Any(r => r.GetProperty("name").GetString() == name);

    [Fact]
    public async Task AddedRuleFile_GoesLive_AndDeliveriesRecordTheGeneration()
    {
        var before = (await RulesAsync()).GetProperty("generation").GetString();

        await File.WriteAllTextAsync(Path.Combine(RulesDirectory, "close.csx"), CloseRule);
        var after = await WaitForRuleAsync("TellSlackOnClose");
        await _server.PostFixtureAsync("convo.status.closed");
        var delivery = Assert.Single(await _server.SettledDeliveriesAsync());

        Assert.True(HasRule(after, "TellSlackOnClose"));
        Assert.NotEqual(before, after.GetProperty("generation").GetString());
        Assert.Equal(after.GetProperty("generation").GetString(), delivery.GetProperty("rulesGeneration").GetString());
        Assert.Equal("slack", Assert.Single(delivery.GetProperty("actionIntents").EnumerateArray()).GetProperty("action").GetString());
    }

    [Fact]
    public async Task MisspeltStatusInAChangedRule_IsReportedInTheLog_TheAdminApiAndTheMetrics()
    {
        File.WriteAllText(Path.Combine(RulesDirectory, "close.csx"), CloseRule.Replace("ConversationStatus.Closed", "\"clossed\"", StringComparison.Ordinal).Replace("\"slack\"", "\"http\"", StringComparison.Ordinal));

        var rules = await WaitForRuleAsync("TellSlackOnClose");

        var diagnostic = Assert.Single(rules.GetProperty("diagnostics").EnumerateArray());
        Assert.Equal("FSR0002", diagnostic.GetProperty("id").GetString());
        Assert.Equal("warning", diagnostic.GetProperty("severity").GetString());
        Assert.EndsWith("close.csx", diagnostic.GetProperty("file").GetString(), StringComparison.Ordinal);
        Assert.Equal(6, diagnostic.GetProperty("line").GetInt32());
        Assert.Contains("did you mean 'closed'?", diagnostic.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains(_server.Logs, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("warning FSR0002", StringComparison.Ordinal) && l.Contains("close.csx(6,", StringComparison.Ordinal));
        Assert.Contains("freescout_rules_rules_diagnostics{otel_scope_name=\"FreeScoutRules\",id=\"FSR0002\",severity=\"warning\"} 1", await _server.Admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BrokenChange_KeepsTheLastGoodRulesRunning_AndReportsDiagnosticsUntilFixed()
    {
        var good = (await RulesAsync()).GetProperty("generation").GetString();
        var broken = Path.Combine(RulesDirectory, "close.csx");

        // Written elsewhere and moved in, as editors save: the watcher never sees a half-written (empty,
        // and so valid) file, which would be a generation of its own and not the last good one.
        var staged = Path.Combine(_server.Root, "close.csx.tmp");
        await File.WriteAllTextAsync(staged, CloseRule.Replace("ctx.Enqueue(", "ctx.Enqueu(", StringComparison.Ordinal));
        File.Move(staged, broken);
        var failed = await WaitForReloadFailureAsync();
        await _server.PostFixtureAsync("convo.status.closed");
        var delivery = Assert.Single(await _server.SettledDeliveriesAsync());

        Assert.Equal(good, failed.GetProperty("generation").GetString());
        var diagnostic = Assert.Single(failed.GetProperty("lastFailure").GetProperty("diagnostics").EnumerateArray()).GetString();
        Assert.StartsWith($"{broken}(7,", diagnostic, StringComparison.Ordinal);
        Assert.Contains(": error CS1061:", diagnostic, StringComparison.Ordinal);
        Assert.Equal("done", delivery.GetProperty("outcome").GetString());
        Assert.Equal(good, delivery.GetProperty("rulesGeneration").GetString());

        await File.WriteAllTextAsync(broken, CloseRule);
        var fixedRules = await WaitForRuleAsync("TellSlackOnClose");
        Assert.Equal(JsonValueKind.Null, fixedRules.GetProperty("lastFailure").ValueKind);
    }

    [Fact]
    public async Task AFailedReload_ListsItsErrorsFirst_InTheAdminApiAndTheLog()
    {
        var broken = Path.Combine(RulesDirectory, "close.csx");
        var staged = Path.Combine(_server.Root, "close.csx.tmp");
        // A warning on the first line, the error further down: the error still leads.
        await File.WriteAllTextAsync(staged, "#warning this rule is being rewritten\n" + CloseRule.Replace("ctx.Enqueue(", "ctx.Enqueu(", StringComparison.Ordinal));
        File.Move(staged, broken);

        var failed = await WaitForReloadFailureAsync();

        var diagnostics = failed.GetProperty("lastFailure").GetProperty("diagnostics").EnumerateArray().Select(d => d.GetString()!).ToList();
        Assert.Equal(2, diagnostics.Count);
        Assert.Contains(": error CS1061:", diagnostics[0], StringComparison.Ordinal);
        Assert.Contains(": warning CS1030:", diagnostics[1], StringComparison.Ordinal);
        var logged = Assert.Single(_server.Logs, l => l.Contains("The changed rules do not compile", StringComparison.Ordinal));
        Assert.True(logged.IndexOf("error CS1061", StringComparison.Ordinal) < logged.IndexOf("warning CS1030", StringComparison.Ordinal), logged);
    }

    [Fact]
    public async Task APluginAddedToTheRunningServer_ClearsTheWarningThatNoPluginProvidedItsAction()
    {
        var rule = Path.Combine(RulesDirectory, "notify.csx");
        await File.WriteAllTextAsync(rule, "public class NotifyOnClose() : OpsRule(On.Close().Do(\"sample-notify\", c => new { url = \"https://hooks.example.com/x\", text = \"closed\" }));\n");
        var before = await WaitForRulesAsync("the rule to go live with FSR0003", r => HasRule(r, "NotifyOnClose")
            && r.GetProperty("diagnostics").EnumerateArray().Any(d => d.GetProperty("id").GetString() == "FSR0003"));

        Assert.Matches("freescout_rules_rules_diagnostics\\{[^}]*id=\"FSR0003\"[^}]*\\} 1", await _server.Admin.GetStringAsync("/metrics"));

        SamplePlugin.DropInto(Path.Combine(_server.Root, "plugins"));
        var after = await WaitForRulesAsync("the rules to be checked again without FSR0003", r =>
            !r.GetProperty("diagnostics").EnumerateArray().Any(d => d.GetProperty("id").GetString() == "FSR0003"));

        Assert.Equal(before.GetProperty("generation").GetString(), after.GetProperty("generation").GetString()); // the same files
        Assert.True(HasRule(after, "NotifyOnClose"));
        Assert.DoesNotMatch("freescout_rules_rules_diagnostics\\{[^}]*id=\"FSR0003\"[^}]*\\} [1-9]", await _server.Admin.GetStringAsync("/metrics")); // an alert on it stops
        Assert.Contains(_server.Logs, l => l.StartsWith("Information", StringComparison.Ordinal) && l.Contains("Rules checked again against the actions the plugins now provide", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ARecheckThatFails_KeepsTheRulesInForce_AndStandsUntilThePluginIsBack()
    {
        await using var server = await TestServerHost.StartAsync(
            new() { ["Rules:Severity:FSR0003"] = "error" },
            new Dictionary<string, string> { ["notify.csx"] = "public class NotifyOnClose() : OpsRule(On.Close().Do(\"sample-notify\", c => new { url = \"https://hooks.example.com/x\", text = \"closed\" }));\n" },
            samplePlugin: true);
        var rules = async () => await server.Admin.GetFromJsonAsync<JsonElement>("/api/rules");
        var good = (await rules()).GetProperty("generation").GetString();
        var plugin = Path.Combine(server.Root, "plugins", "FreeScoutRules.Plugins.Sample");
        var aside = Path.Combine(server.Root, "sample-plugin-aside");

        Directory.Move(plugin, aside); // the rule's action is gone: as an error, the rules cannot load as they are
        JsonElement failed = default;
        await Eventually.UntilAsync("the recheck to fail", async () => (failed = await rules()).GetProperty("lastFailure").ValueKind == JsonValueKind.Object, TimeSpan.FromSeconds(20));
        await Task.Delay(TimeSpan.FromSeconds(6)); // a poll of the folder (every 5 s) in between: the failure stands
        var standing = await rules();
        Directory.Move(aside, plugin);
        await Eventually.UntilAsync("the failure to clear once the plugin is back", async () => (await rules()).GetProperty("lastFailure").ValueKind == JsonValueKind.Null, TimeSpan.FromSeconds(20));

        Assert.Equal(good, failed.GetProperty("generation").GetString());
        Assert.True(HasRule(failed, "NotifyOnClose")); // still in force
        Assert.Contains("error FSR0003: No plugin provides the action 'sample-notify'", failed.GetProperty("lastFailure").GetProperty("diagnostics")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Object, standing.GetProperty("lastFailure").ValueKind);
        Assert.Equal(good, (await rules()).GetProperty("generation").GetString());
    }

    [Fact]
    public async Task BrokenChangeUndone_ClearsTheFailure_AndTheLogSaysTheRulesAreBackToTheGenerationThatKeptRunning()
    {
        var good = (await RulesAsync()).GetProperty("generation").GetString()!;
        var broken = Path.Combine(RulesDirectory, "close.csx");
        var staged = Path.Combine(_server.Root, "close.csx.tmp");
        await File.WriteAllTextAsync(staged, CloseRule.Replace("ctx.Enqueue(", "ctx.Enqueu(", StringComparison.Ordinal));
        File.Move(staged, broken);
        await WaitForReloadFailureAsync();

        File.Delete(broken); // the change undone: the folder is the generation in force again
        var back = await WaitForRulesAsync("the failure to clear", r => r.GetProperty("lastFailure").ValueKind == JsonValueKind.Null);

        Assert.Equal(good, back.GetProperty("generation").GetString());
        await Eventually.UntilAsync("the log to say the rules are back", () => _server.Logs.Any(l =>
            l.StartsWith("Information", StringComparison.Ordinal) && l.Contains($"The rules folder is back to generation {good[..12]}, which kept running", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task FileWrittenInSeveralSteps_IsCompiledOnceWhole()
    {
        var path = Path.Combine(RulesDirectory, "close.csx");
        var half = CloseRule.Length / 2;

        await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
        {
            foreach (var chunk in new[] { CloseRule[..half], CloseRule[half..] })
            {
                await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(chunk));
                await file.FlushAsync();
                await Task.Delay(20);
            }
        }

        var rules = await WaitForRuleAsync("TellSlackOnClose");

        var metrics = await _server.Admin.GetStringAsync("/metrics");

        Assert.True(HasRule(rules, "TellSlackOnClose"));
        Assert.Contains("freescout_rules_rules_reloads_total{otel_scope_name=\"FreeScoutRules\",outcome=\"loaded\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("freescout_rules_rules_reloads_total{otel_scope_name=\"FreeScoutRules\",outcome=\"failed\"} 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletedRulesFolder_KeepsTheLastGoodRulesRunning()
    {
        var good = (await RulesAsync()).GetProperty("generation").GetString();

        Directory.Delete(RulesDirectory, recursive: true);
        var failed = await WaitForReloadFailureAsync();
        await _server.PostFixtureAsync("convo.status.closed");

        Assert.Equal(good, failed.GetProperty("generation").GetString());
        Assert.Contains("FSR0100", failed.GetProperty("lastFailure").GetProperty("diagnostics")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal("done", Assert.Single(await _server.SettledDeliveriesAsync()).GetProperty("outcome").GetString());
    }

    /// <summary>
    /// Issue 23: a folder mixing a rule in NRules' DSL and concise rules goes live; a concise rule changed on the running
    /// server goes live in its new form; a concise declaration that throws is reported at its line, and the last good
    /// rules keep running.
    /// </summary>
    [Fact]
    public async Task AFolderMixingBothKindsOfRules_HotReloads_ChangesAndBrokenDeclarationsIncluded()
    {
        await File.WriteAllTextAsync(Path.Combine(RulesDirectory, "close.csx"), CloseRule);
        var concise = Path.Combine(RulesDirectory, "concise.csx");
        await File.WriteAllTextAsync(concise, "public class ConciseOnClose() : OpsRule(On.Close().NotByBot().Do(\"slack\", c => new { concise = c.Number }));\n");
        await WaitForRulesAsync("both rules to go live", r => HasRule(r, "TellSlackOnClose") && HasRule(r, "ConciseOnClose"));
        await _server.PostFixtureAsync("convo.status.closed");
        var closed = Assert.Single(await _server.SettledDeliveriesAsync());

        var staged = Path.Combine(_server.Root, "concise.csx.tmp");
        await File.WriteAllTextAsync(staged, "public class ConciseOnReopen() : OpsRule(On.Reopen().Post(\"https://hooks.example.com/reopened\", c => new { reopened = c.Number }));\n");
        File.Move(staged, concise, overwrite: true);
        var changed = await WaitForRuleAsync("ConciseOnReopen");
        await File.WriteAllTextAsync(staged, "public class Broken() : OpsRule(On.Timer(\"\").Do(\"slack\"));\n");
        File.Move(staged, concise, overwrite: true);
        var failed = await WaitForReloadFailureAsync();
        await _server.PostFixtureAsync("convo.customer.reply.created.reopened");
        var reopened = (await _server.SettledDeliveriesAsync()).First();

        Assert.Equal(["ConciseOnClose", "TellSlackOnClose"], closed.GetProperty("actionIntents").EnumerateArray().Select(i => i.GetProperty("rule").GetString()).Order());
        Assert.False(HasRule(changed, "ConciseOnClose"));
        Assert.Equal(changed.GetProperty("generation").GetString(), failed.GetProperty("generation").GetString());
        var diagnostic = Assert.Single(failed.GetProperty("lastFailure").GetProperty("diagnostics").EnumerateArray(), d => d.GetString()!.Contains(": error ", StringComparison.Ordinal)).GetString();
        Assert.StartsWith($"{concise}(1,", diagnostic, StringComparison.Ordinal);
        Assert.Contains("error FSR0101: Rule 'Broken' could not be defined: ArgumentException", diagnostic, StringComparison.Ordinal);
        var intent = Assert.Single(reopened.GetProperty("actionIntents").EnumerateArray());
        Assert.Equal(("ConciseOnReopen", "http"), (intent.GetProperty("rule").GetString(), intent.GetProperty("action").GetString()));
        Assert.Equal(changed.GetProperty("generation").GetString(), reopened.GetProperty("rulesGeneration").GetString());
    }
}
