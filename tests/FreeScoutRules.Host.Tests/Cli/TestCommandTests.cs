using FreeScoutRules.Host.Tests.Support;

namespace FreeScoutRules.Host.Tests.Cli;

/// <summary>End to end: the real <c>freescout-rules test</c> process on JSON Lines files.</summary>
public sealed class TestCommandTests() : CliTestBase(withSampleRule: true)
{
    [Fact]
    public async Task Test_Json_PrintsEachStatusChangeOnceAndEachIntent()
    {
        var file = Events
            .Add("convo.created", "convo.created")
            .Add("convo.agent.reply.created", "convo.agent.reply.created")
            .Add("convo.agent.reply.created", "convo.agent.reply.created.closed")
            .Add("convo.status", "convo.status.closed.on-reply")
            .Add("convo.status", "convo.status.closed.on-reply")
            .Add("convo.customer.reply.created", "convo.customer.reply.created.reopened")
            .Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            [
                """{"kind":"statusChanged","line":2,"conversationId":1187,"from":"active","to":"pending","via":"convo.agent.reply.created","by":{"kind":"user","id":2}}""",
                """{"kind":"statusChanged","line":3,"conversationId":1187,"from":"pending","to":"closed","via":"convo.agent.reply.created","by":{"kind":"user","id":2}}""",
                """{"kind":"action","line":3,"rule":"notify-support-on-close","action":"http","conversationId":1187,"arguments":{"url":"https://hooks.example.com/support","headers":{"Authorization":"Bearer secret://support_hook_token"},"body":{"text":"Conversation #1187 \"Invoice #4521 – wrong amount\" was closed (was pending)."}}}""",
                """{"kind":"statusChanged","line":6,"conversationId":1187,"from":"closed","to":"active","via":"convo.customer.reply.created","by":{"kind":"customer","id":27}}""",
            ],
            result.OutputLines);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task Test_RuleThatThrows_IsReportedOnEachLine_AndTheStatusChangesAndOtherIntentsStillPrint()
    {
        File.WriteAllText(Path.Combine(RulesDirectory, "bad.csx"), """
            public class ParsesTheSubject : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery, d => int.Parse(d.Conversation.Subject) > 0);
                    Then().Do(ctx => ctx.Enqueue("http", new { x = 1 }));
                }
            }
            """);
        var file = Events
            .Add("convo.created", "convo.created")
            .Add("convo.status", "convo.status.closed.on-reply")
            .Save();

        var json = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");
        var text = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file);

        Assert.Equal(1, json.ExitCode);
        var failures = json.OutputLines.Where(l => l.StartsWith("""{"kind":"ruleFailed","line":""", StringComparison.Ordinal) && l.Contains("\"rule\":\"ParsesTheSubject\",", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, failures.Count);
        Assert.All(failures, l => Assert.Contains("bad.csx(1,14)", l, StringComparison.Ordinal));
        Assert.All(failures, l => Assert.Contains("FormatException", l, StringComparison.Ordinal));
        Assert.Contains("""{"kind":"statusChanged","line":2,"conversationId":1187,"from":"active","to":"closed","via":"convo.status","by":{"kind":"user","id":2}}""", json.OutputLines);
        Assert.Contains(json.OutputLines, l => l.StartsWith("""{"kind":"action","line":2,"rule":"notify-support-on-close","action":"http","conversationId":1187,"arguments":{"url":""", StringComparison.Ordinal));
        Assert.Equal("", json.Error); // reported once, with its delivery
        Assert.Contains(text.OutputLines, l => l.StartsWith("line 1: convo.created", StringComparison.Ordinal) && l.Contains("rule ParsesTheSubject FAILED", StringComparison.Ordinal));
        Assert.Contains(text.OutputLines, l => l.StartsWith("line 2: convo.status", StringComparison.Ordinal) && l.EndsWith("status active -> closed via convo.status", StringComparison.Ordinal));
        Assert.Equal("2 deliveries: 1 status changes, 1 action intents, 0 skipped, 2 rule failures, 0 bad lines", text.OutputLines[^1]);

        // Recorded in an expected file, the failures still fail the run: the file shows a change in them, it does not make them pass.
        var golden = Path.Combine(RulesDirectory, "..", Path.GetFileName(RulesDirectory) + ".failing.expected.jsonl");
        try
        {
            var written = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--expect", golden, "--update-expected");
            var matched = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--expect", golden);

            Assert.Equal(1, written.ExitCode);
            Assert.Contains("ruleFailed", File.ReadAllText(golden), StringComparison.Ordinal);
            Assert.Equal(1, matched.ExitCode);
            Assert.Contains("matches (", matched.Output, StringComparison.Ordinal);
            Assert.Contains("the run is not clean: 2 rule failures, 0 intents refused by their plugins, 0 bad lines", matched.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(golden);
        }
    }

    [Fact]
    public async Task Test_ACancelThatFindsNoPendingTimer_IsReportedAsSuch()
    {
        File.WriteAllText(Path.Combine(RulesDirectory, "timers.csx"), """
            public class Survey : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose);
                    Then().Do(ctx => ctx.Schedule("survey", change.ConversationId, TimeSpan.FromHours(24)));
                }
            }

            public class NoSurveyOnReopen : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery);
                    Then().Do(ctx => ctx.CancelTimer("survey", delivery.ConversationId));
                }
            }
            """);
        var file = Events.Add("convo.created", "convo.created").Add("convo.status", "convo.status.closed.on-reply").Save();

        var text = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file);
        var json = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");

        // Line 1: nothing was pending to cancel. Line 2: the close schedules the survey, the same evaluation cancels it.
        Assert.Contains(text.OutputLines, l => l.StartsWith("line 1:", StringComparison.Ordinal)
            && l.EndsWith("timer survey of conversation 1187 not cancelled: none was pending (rule NoSurveyOnReopen)", StringComparison.Ordinal));
        Assert.Contains("""{"kind":"timerCancelled","line":1,"rule":"NoSurveyOnReopen","name":"survey","conversationId":1187,"wasPending":false}""", json.OutputLines);
    }

    [Fact]
    public async Task Test_Expect_MatchesItsGoldenFile_AndFailsWithADiffWhenARuleChanges()
    {
        var file = Events.Add("convo.created", "convo.created").Add("convo.status", "convo.status.closed.on-reply").Save();
        var golden = Path.Combine(RulesDirectory, "..", Path.GetFileName(RulesDirectory) + ".expected.jsonl");
        try
        {
            var missing = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--expect", golden);
            var written = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--expect", golden, "--update-expected");
            var same = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--expect", golden);
            var sample = Path.Combine(RulesDirectory, "notify.csx");
            File.WriteAllText(sample, File.ReadAllText(sample).Replace("was closed", "is closed", StringComparison.Ordinal));
            var changed = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--expect", golden);

            Assert.Equal(2, missing.ExitCode);
            Assert.Contains("no such file; create it with --update-expected", missing.Error, StringComparison.Ordinal);
            Assert.Equal(0, written.ExitCode);
            Assert.Equal(2, File.ReadAllLines(golden).Length);
            Assert.Equal(0, same.ExitCode);
            Assert.EndsWith("matches (2 lines).", same.OutputLines[0], StringComparison.Ordinal);
            Assert.Equal(1, changed.ExitCode);
            Assert.Contains(changed.OutputLines, l => l.StartsWith("- {\"kind\":\"action\"", StringComparison.Ordinal) && l.Contains("was closed", StringComparison.Ordinal));
            Assert.Contains(changed.OutputLines, l => l.StartsWith("+ {\"kind\":\"action\"", StringComparison.Ordinal) && l.Contains("is closed", StringComparison.Ordinal));
            Assert.Contains(changed.OutputLines, l => l.StartsWith("{\"kind\":\"statusChanged\"", StringComparison.Ordinal)); // unchanged (indented; the test trims)
        }
        finally
        {
            File.Delete(golden);
        }
    }

    [Fact]
    public async Task Test_Plugins_AnIntentWhoseArgumentsItsPluginWouldRefuse_IsReportedWithWhy_AndFailsTheRun()
    {
        File.WriteAllText(Path.Combine(RulesDirectory, "posts.csx"), """
            public class PostsToFtp() : OpsRule(On.Close().Post("ftp://files.example.com/x", c => new { number = c.Number }));
            public class PostsToASecretUrl() : OpsRule(On.Close().Post(Secret.Ref("chat_url"), c => new { number = c.Number }));
            public class SetsNoCustomField() : OpsRule(On.Close().FreeScout("custom-fields", c => new { customFields = new Dictionary<string, string> { ["colour"] = "red" } }));
            public class TellsSlak() : OpsRule(On.Close().Do("slak", c => new { text = "closed" }));
            """);
        var file = Events.Add("convo.created", "convo.created").Add("convo.status", "convo.status.closed.on-reply").Save();
        var plugins = Directory.CreateDirectory(Path.Combine(RulesDirectory, "..", Path.GetFileName(RulesDirectory) + "-plugins")).FullName;
        try
        {
            // CI's placeholder for the secret is not a URL: refused, and the message says the placeholder's value was used.
            var environment = new Dictionary<string, string>(SampleRule.Environment) { ["Secrets__chat_url"] = "placeholder-4711" };
            var text = await CliProcess.RunWithEnvironmentAsync(environment, null, "test", "--rules", RulesDirectory, "--events", file, "--plugins", plugins);
            var json = await CliProcess.RunWithEnvironmentAsync(environment, null, "test", "--rules", RulesDirectory, "--events", file, "--plugins", plugins, "--json");
            var withoutPlugins = await CliProcess.RunWithEnvironmentAsync(environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");
            environment["Secrets__chat_url"] = "https://chat.example.com/hooks/4711";
            var shaped = await CliProcess.RunWithEnvironmentAsync(environment, null, "test", "--rules", RulesDirectory, "--events", file, "--plugins", plugins, "--json");
            var noFolder = await CliProcess.RunWithEnvironmentAsync(environment, null, "test", "--rules", RulesDirectory, "--events", file, "--plugins", plugins + "-missing");
            await File.WriteAllTextAsync(Path.Combine(plugins, "broken.dll"), "not a dll");
            var brokenPlugin = await CliProcess.RunWithEnvironmentAsync(environment, null, "test", "--rules", RulesDirectory, "--events", file, "--plugins", plugins);

            Assert.Equal(1, text.ExitCode);
            Assert.Contains("line 2: convo.status #1187 (id 1187): REFUSED: action http (rule PostsToFtp): Invalid arguments for 'http': url must be an absolute http(s) URL", text.OutputLines);
            Assert.Contains("line 2: convo.status #1187 (id 1187): REFUSED: action http (rule PostsToASecretUrl): Invalid arguments for 'http': url must be an absolute http(s) URL (checked with this configuration's values of Secrets:chat_url; give placeholders the shape of the real values)", text.OutputLines);
            Assert.Contains("line 2: convo.status #1187 (id 1187): REFUSED: action freescout (rule SetsNoCustomField): Invalid arguments for 'freescout': customFields keys must be custom field ids", text.OutputLines);
            Assert.DoesNotContain(text.OutputLines, l => l.Contains("REFUSED", StringComparison.Ordinal) && l.Contains("notify-support-on-close", StringComparison.Ordinal)); // its arguments are fine
            Assert.Contains("line 2: convo.status #1187 (id 1187): REFUSED: action slak (rule TellsSlak): No plugin provides the action 'slak' (FSR0003): on the server its intents would wait for one.", text.OutputLines);
            Assert.EndsWith("; 4 intents refused by their plugins", text.OutputLines[^1], StringComparison.Ordinal);
            Assert.Contains(json.OutputLines, l => l.StartsWith("""{"kind":"action","line":2,"rule":"PostsToFtp",""", StringComparison.Ordinal)
                && l.EndsWith(""","refused":"Invalid arguments for 'http': url must be an absolute http(s) URL"}""", StringComparison.Ordinal));
            Assert.Contains(json.OutputLines, l => l.StartsWith("""{"kind":"action","line":2,"rule":"PostsToASecretUrl",""", StringComparison.Ordinal) && l.Contains("\"url\":\"secret://chat_url\"", StringComparison.Ordinal));
            Assert.Equal(1, json.ExitCode);
            Assert.DoesNotContain("placeholder-4711", text.Output + text.Error + json.Output + json.Error, StringComparison.Ordinal);

            // Without --plugins nothing is put to the plugins: the output is what it always was.
            Assert.Equal(0, withoutPlugins.ExitCode);
            Assert.DoesNotContain(withoutPlugins.OutputLines, l => l.Contains("\"refused\"", StringComparison.Ordinal));
            Assert.Equal(json.OutputLines.Select(l => System.Text.RegularExpressions.Regex.Replace(l, ",\"refused\":\"[^\"]*\"}$", "}")), withoutPlugins.OutputLines);

            // A placeholder of the real value's shape passes; the other three are still refused.
            Assert.Equal(3, shaped.OutputLines.Count(l => l.Contains("\"refused\"", StringComparison.Ordinal)));
            Assert.Equal(1, noFolder.ExitCode); // the built-in actions still refuse three
            Assert.Contains("there is no such folder: checked against the built-in actions alone", noFolder.Error, StringComparison.Ordinal);

            // A plugin that does not load: its actions' intents could not be checked, so nothing runs, and it says why.
            Assert.Equal(2, brokenPlugin.ExitCode);
            Assert.Contains(brokenPlugin.ErrorLines, l => l.EndsWith("broken.dll: error FSR0200: not a .NET assembly (or built for another platform).", StringComparison.Ordinal));
            Assert.Empty(brokenPlugin.OutputLines);
        }
        finally
        {
            Directory.Delete(plugins, recursive: true);
        }
    }

    [Fact]
    public async Task Test_Json_FirstSeenCloseHasNullFrom()
    {
        var file = Events.Add("convo.status", "convo.status.closed").Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");

        Assert.Equal(
            """{"kind":"statusChanged","line":1,"conversationId":1187,"from":null,"to":"closed","via":"convo.status","by":{"kind":"user","id":2}}""",
            result.OutputLines[0]);
    }

    [Fact]
    public async Task Test_AReconciledSnapshotLine_DerivesTheChangeViaReconciliation()
    {
        // The conversation as FreeScout's API lists it (the same object as a webhook's), newer than the last webhook.
        var file = Events.Add("convo.created", "convo.created").Add("reconciliation", "convo.status.closed").Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains(result.OutputLines, l => l.StartsWith("""{"kind":"statusChanged","line":2,"conversationId":1187,"from":"active","to":"closed","via":"reconciliation",""", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Test_Text_IsForPeopleAndReadsStandardInput()
    {
        var file = Events.Add("convo.created", "convo.created").Add("convo.status", "convo.status.closed").Add("customer.created", "customer.created").Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, await File.ReadAllTextAsync(file), "test", "--rules", RulesDirectory, "--events", "-");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("line 2: convo.status #1187 (id 1187): status active -> closed via convo.status", result.OutputLines);
        Assert.Contains(result.OutputLines, l => l.StartsWith("line 2: convo.status #1187 (id 1187): action http {\"url\":\"https://hooks.example.com/support\"", StringComparison.Ordinal));
        Assert.Contains("line 3: customer.created: skipped: not a conversation event; rules run on conversation events only", result.OutputLines);
        Assert.Equal("3 deliveries: 1 status changes, 1 action intents, 1 skipped, 0 rule failures, 0 bad lines", result.OutputLines[^1]);
    }

    [Fact]
    public async Task Test_BadLines_AreReportedWithLineNumbersAndTheRestIsProcessed()
    {
        var file = Events
            .AddRaw("{not json")
            .Add("convo.created", "convo.created")
            .AddRaw("""{"event":"convo.stauts","body":{}}""")
            .AddRaw("""{"event":"convo.status","body":{"id":"abc"}}""")
            .AddRaw("""{"event":"convo.status","body":{"id":1187,"number":1187}}""")
            .AddRaw("""{"body":{}}""")
            .AddRaw("[]")
            .Add("convo.status", "convo.status.closed")
            .Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(2, result.OutputLines.Length);
        Assert.Collection(
            result.ErrorLines,
            l => Assert.StartsWith("line 1: the line is not JSON: malformed JSON", l, StringComparison.Ordinal),
            l => Assert.StartsWith("line 3: Unknown event 'convo.stauts'", l, StringComparison.Ordinal),
            l => Assert.StartsWith("line 4: convo.status: wrong type at $.id", l, StringComparison.Ordinal),
            l => Assert.Equal("line 5: convo.status: status is required; updatedAt is required", l),
            l => Assert.Equal("line 6: \"event\" is missing or not a string", l),
            l => Assert.StartsWith("line 7: expected an object", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Test_RuleFileThatDoesNotCompile_ReportsLikeACompilerAndRunsNothing()
    {
        var broken = Path.Combine(RulesDirectory, "broken.csx");
        await File.WriteAllTextAsync(broken, "public class Broken : Rule\n{\n    public override void Define() { Then().Do(ctx => ctx.Enqueue(42)); }\n}\n");
        var file = Events.Add("convo.status", "convo.status.closed").Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Matches(@"^.*broken\.csx\(3,\d+\): error CS1503: ", result.ErrorLines[0]);
        Assert.Contains("do not compile; nothing was run", result.ErrorLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_EmptyFile_SaysSo()
    {
        var file = Events.AddRaw("").Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("holds no deliveries", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_MissingEventsFileOrOption_IsAClearError()
    {
        var missing = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", "/nonexistent/deliveries.jsonl");
        var noOption = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory);

        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("/nonexistent/deliveries.jsonl: cannot read", missing.Error, StringComparison.Ordinal);
        Assert.NotEqual(0, noOption.ExitCode);
        Assert.Contains("--events", noOption.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_BadTimesAndAClockMovingBack_AreReportedOnTheirLines_AndTheOthersStillRun()
    {
        var file = Events
            .AddRaw("""{"clock": "2026-12-01T10:00:00Z"}""")
            .AddRaw("""{"clock": "tomorrow"}""")
            .AddRaw("""{"clock": "2026-12-01T10:00:00", "event": "convo.created"}""")
            .AddRaw("""{"event": "convo.created", "at": "2026-12-01T10:00:00", "body": {"id": 5, "number": 5, "status": "active", "updatedAt": "2026-12-01T09:00:00Z"}}""")
            .AddRaw("""{"clock": "2026-11-30T10:00:00Z"}""")
            .AddRaw("""{"event": "convo.status", "at": "2026-12-01T11:00:00+01:00", "body": {"id": 5, "number": 5, "status": "closed", "updatedAt": "2026-12-01T09:30:00Z"}}""")
            .Save();

        var result = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(
            [
                "line 2: \"clock\" must be a time with its offset, such as \"2026-12-01T09:00:00Z\"",
                "line 3: a line is a delivery or a clock, not both: give the delivery its \"at\", or put the clock on a line of its own",
                "line 4: \"at\" must be a time with its offset, such as \"2026-12-01T09:00:00Z\"",
                "line 5: the clock cannot move back (from 2026-12-01T10:00:00.0000000+00:00 to 2026-11-30T10:00:00.0000000+00:00).",
            ],
            result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(result.OutputLines, l => l.StartsWith("""{"kind":"statusChanged","line":6,"conversationId":5""", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Test_TimersFireBetweenLinesInDueOrder_AndThoseStillPendingAreCounted()
    {
        File.WriteAllText(Path.Combine(RulesDirectory, "timers.csx"), """
            public class Later : Rule
            {
                public override void Define()
                {
                    Delivery delivery = default!;
                    When().Match(() => delivery, d => d.Event == WebhookEvents.ConversationCreated);
                    Then()
                        .Do(ctx => ctx.Schedule("b", delivery.ConversationId, TimeSpan.FromHours(2)))
                        .Do(ctx => ctx.Schedule("a", delivery.ConversationId, TimeSpan.FromHours(1)))
                        .Do(ctx => ctx.Schedule("c", delivery.ConversationId, TimeSpan.FromDays(30)));
                }
            }

            public class Handle : Rule
            {
                public override void Define()
                {
                    TimerElapsed timer = default!;
                    When().Match(() => timer, t => t.Name == "a" || t.Name == "b" || t.Name == "c");
                    Then().Do(ctx => ctx.Enqueue("http", new { url = "https://example.com/" + timer.Name }));
                }
            }
            """);
        var file = Events
            .AddRaw("""{"event": "convo.created", "at": "2026-12-01T09:00:00Z", "body": {"id": 5, "number": 5, "status": "active", "updatedAt": "2026-12-01T08:59:00Z"}}""")
            .AddRaw("""{"event": "convo.note.created", "body": {"id": 5, "number": 5, "status": "active", "updatedAt": "2026-12-01T12:00:00Z"}}""")
            .Save();

        var json = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file, "--json");
        var text = await CliProcess.RunWithEnvironmentAsync(SampleRule.Environment, null, "test", "--rules", RulesDirectory, "--events", file);

        Assert.True(json.ExitCode == 0, json.Error);
        Assert.Equal(
            [
                """{"kind":"timer","name":"a","conversationId":5,"dueAt":"2026-12-01T10:00:00+00:00"}""",
                """{"kind":"action","timer":"a","rule":"Handle","action":"http","conversationId":5,"arguments":{"url":"https://example.com/a"}}""",
                """{"kind":"timer","name":"b","conversationId":5,"dueAt":"2026-12-01T11:00:00+00:00"}""",
                """{"kind":"action","timer":"b","rule":"Handle","action":"http","conversationId":5,"arguments":{"url":"https://example.com/b"}}""",
            ],
            json.OutputLines.Where(l => l.Contains("\"timer\"", StringComparison.Ordinal)));
        Assert.EndsWith("; 2 timers fired, 1 still pending at the end", text.OutputLines[^1], StringComparison.Ordinal);
    }
}
