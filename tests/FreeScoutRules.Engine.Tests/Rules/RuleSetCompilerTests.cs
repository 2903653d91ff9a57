using System.Runtime.CompilerServices;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Storage;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;
using Events = FreeScoutRules.FreeScout.WebhookEvents;
using Status = FreeScoutRules.FreeScout.ConversationStatus;

namespace FreeScoutRules.Engine.Tests.Rules;

public sealed class RuleSetCompilerTests : IDisposable
{
    private const string CloseRule = """
        public class TellSlackOnClose : Rule
        {
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.To == ConversationStatus.Closed);
                Then().Do(ctx => ctx.Enqueue("slack", new { text = $"#{change.Number} closed", number = change.Number }));
            }
        }
        """;

    private readonly TempDirectory _rules = new();

    public RuleSetCompilerTests() =>
        File.Copy(Path.Combine(Fixtures.RulesDirectory, "status-change.csx"), Path.Combine(_rules.Path, "status-change.csx"));

    public void Dispose() => _rules.Dispose();

    private RuleCompilationException CompileFails() =>
        Assert.Throws<RuleCompilationException>(() => RuleSetCompiler.Compile(_rules.Path));

    [Fact]
    public async Task Compile_OpsRuleWithoutName_IsNamedAfterItsClassAndRecordsIntents()
    {
        _rules.Write("close.csx", CloseRule);

        var generation = RuleSetCompiler.Compile(_rules.Path);
        var evaluation = await new OfflineEvaluator(generation, new EvaluationPipeline(PipelineSettings.Default))
            .ProcessAsync(Deliveries.Of(Events.ConversationStatus, Status.Closed, 60));

        Assert.Contains(generation.Rules, r => r.Name == "TellSlackOnClose" && r.File.EndsWith("close.csx", StringComparison.Ordinal));
        var intent = Assert.Single(evaluation.Intents);
        Assert.Equal("TellSlackOnClose", intent.Rule);
        Assert.Equal("slack", intent.Action);
        Assert.Equal(1187, intent.ConversationId);
        Assert.Equal("""{"text":"#11187 closed","number":11187}""", intent.Arguments);
    }

    [Fact]
    public void Compile_SampleRuleFile_Compiles()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules.sample.csx"), Path.Combine(_rules.Path, "sample.csx"));

        var generation = RuleSetCompiler.Compile(_rules.Path);

        Assert.Contains(generation.Rules, r => r.Name == "notify-support-on-close");
    }

    [Fact]
    public void Compile_SyntaxError_ReportsFileLineColumnLikeACompiler()
    {
        var file = _rules.Write("broken.csx", "public class Broken : Rule\n{\n    public override void Define() { int x = 1 }\n}\n");

        var error = Assert.Single(CompileFails().Diagnostics, d => d.IsError);

        Assert.Equal($"{file}(3,47): error CS1002: ; expected", error.ToString());
    }

    [Fact]
    public void Compile_TypeErrors_AreAllReportedAcrossFiles()
    {
        var first = _rules.Write("a.csx", "var n = StatusChanged.Nope;\n");
        var second = _rules.Write("b.csx", "\n\nint count = \"three\";\n");

        var errors = CompileFails().Diagnostics.Where(d => d.IsError).Select(d => d.ToString()).ToList();

        Assert.Contains(errors, e => e.StartsWith($"{first}(1,23): error CS0117:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith($"{second}(3,13): error CS0029:", StringComparison.Ordinal));
    }

    [Fact]
    public void Compile_LoadOfSharedHelper_IsResolvedRelativeToTheRuleFile()
    {
        _rules.Write("lib/helpers.csx", "static bool IsClose(StatusChanged c) => c.To == ConversationStatus.Closed;\n");
        _rules.Write("close.csx", "#load \"lib/helpers.csx\"\n" + CloseRule.Replace("c => c.To == ConversationStatus.Closed", "c => IsClose(c)", StringComparison.Ordinal));

        var generation = RuleSetCompiler.Compile(_rules.Path);

        Assert.Contains(generation.Rules, r => r.Name == "TellSlackOnClose");
    }

    [Fact]
    public void Compile_LoadOfMissingHelper_IsAnError()
    {
        var file = _rules.Write("close.csx", "#load \"lib/nope.csx\"\n");

        Assert.Contains(CompileFails().Diagnostics, d => d.File == file && d.Id == "CS1504");
    }

    [Fact]
    public void Compile_ReferenceDirective_IsRefused()
    {
        _rules.Write("r.csx", "#r \"/usr/lib/evil.dll\"\n");

        Assert.Contains(CompileFails().Diagnostics, d => d.Id == "CS0006");
    }

    [Fact]
    public void Compile_RuleThatThrowsWhenConstructed_NamesTheRuleAndFile()
    {
        var file = _rules.Write("throws.csx", """
            public class Exploding : Rule
            {
                public Exploding() => throw new InvalidOperationException("boom");
                public override void Define() { }
            }
            """);

        var error = Assert.Single(CompileFails().Diagnostics);

        Assert.Equal(file, error.File);
        Assert.Equal(EngineDiagnosticIds.RuleDefinitionFailed, error.Id);
        Assert.Contains("Rule 'Exploding' could not be defined: InvalidOperationException: boom", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARuleExcludingOurOwnWrites_WithoutTheBotUser_IsWarnedAtItsClass_FSR0012()
    {
        _rules.Write("own.csx", """
            // Concise, and in NRules' DSL: both exclude our own writes.
            public class NotifyOnClose() : OpsRule(On.Close().NotByBot().Do("notify"));

            public class TagOnClose : Rule
            {
                public override void Define()
                {
                    StatusChanged change = default!;
                    When().Match(() => change, c => c.IsClose).Not<OwnWrite>();
                    Then().Do(ctx => ctx.Enqueue("tag", new { n = change.Number }));
                }
            }

            public class Unrelated() : OpsRule(On.Close().Do("other"));
            """);

        var unset = RuleSetCompiler.Compile(_rules.Path, checks: new RuleChecks(BotUserIdSet: false));
        var set = RuleSetCompiler.Compile(_rules.Path, checks: new RuleChecks(BotUserIdSet: true));
        var unknown = RuleSetCompiler.Compile(_rules.Path);

        var warnings = unset.Warnings.Where(w => w.Id == EngineDiagnosticIds.BotUserIdNotSet).OrderBy(w => w.Line).ToList();
        Assert.Equal([(2, 14), (4, 14)], warnings.Select(w => (w.Line, w.Column)));
        Assert.Contains("Rule 'NotifyOnClose' excludes our own writes (.NotByBot(), Not<OwnWrite>()), but Dispatch:BotUserId is not set", warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains("Rule 'TagOnClose'", warnings[1].Message, StringComparison.Ordinal);
        Assert.DoesNotContain(set.Warnings, w => w.Id == EngineDiagnosticIds.BotUserIdNotSet);
        Assert.DoesNotContain(unknown.Warnings, w => w.Id == EngineDiagnosticIds.BotUserIdNotSet); // not known: not checked
    }

    [Fact]
    public void Compile_TwoRulesWithTheSameName_IsAnError()
    {
        _rules.Write("one.csx", CloseRule);
        _rules.Write("two.csx", "// the same rule, copied\n\n" + CloseRule);

        var error = Assert.Single(CompileFails().Diagnostics);

        Assert.Equal(EngineDiagnosticIds.DuplicateRuleName, error.Id);
        Assert.Contains("'TellSlackOnClose' (in one.csx and two.csx)", error.Message, StringComparison.Ordinal);
        // At the later one's class, not at the file's start.
        var classLine = File.ReadAllLines(Path.Combine(_rules.Path, "two.csx")).ToList().FindIndex(l => l.Contains("class TellSlackOnClose", StringComparison.Ordinal)) + 1;
        Assert.Equal((Path.Combine(_rules.Path, "two.csx"), classLine), (error.File, error.Line));
        Assert.True(classLine > 1);
    }

    [Fact]
    public void Compile_AMissingFolderNamedExplicitly_IsAnError_TheDefaultOneOrAnEmptyOneRunsTheBuiltInRules()
    {
        var missing = Assert.Throws<RuleCompilationException>(() => RuleSetCompiler.Compile(Path.Combine(_rules.Path, "nope")));
        var optional = RuleSetCompiler.Compile(Path.Combine(_rules.Path, "nope"), folderOptional: true);
        using var empty = new TempDirectory();
        var none = RuleSetCompiler.Compile(empty.Path);

        Assert.Equal(EngineDiagnosticIds.NoRules, Assert.Single(missing.Diagnostics).Id);
        Assert.Contains("does not exist", missing.Diagnostics[0].Message, StringComparison.Ordinal);
        foreach (var builtInsOnly in new[] { optional, none })
        {
            Assert.NotEmpty(builtInsOnly.Rules);
            Assert.All(builtInsOnly.Rules, r => Assert.StartsWith("status.", r.Name, StringComparison.Ordinal));
            Assert.Equal(EngineDiagnosticIds.NoRules, Assert.Single(builtInsOnly.Warnings).Id);
        }

        Assert.Contains("There is no rules folder at", optional.Warnings[0].Message, StringComparison.Ordinal);
        Assert.Contains("holds no .csx", none.Warnings[0].Message, StringComparison.Ordinal);
        Assert.Equal(optional.ContentHash, none.ContentHash); // the same rules: no reload when the folder appears empty
    }

    [Fact]
    public void Compile_Twice_SameSourcesGiveTheSameContentHash()
    {
        var first = RuleSetCompiler.Compile(_rules.Path);
        var second = RuleSetCompiler.Compile(_rules.Path);
        _rules.Write("close.csx", CloseRule);
        var third = RuleSetCompiler.Compile(_rules.Path);

        Assert.Equal(first.ContentHash, second.ContentHash);
        Assert.NotEqual(first.ContentHash, third.ContentHash);
    }

    [Fact]
    public void Unload_OldGeneration_IsCollected()
    {
        _rules.Write("close.csx", CloseRule);
        var weak = CompileUseAndUnload(_rules.Path);

        // Up to 5 s: an unload completes over several collections, and on a loaded machine a pool thread that ran the
        // evaluation may still be finishing with it (CI failed once after 20 immediate collections).
        for (var i = 0; i < 100 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            if (weak.IsAlive && i >= 10)
            {
                Thread.Sleep(50);
            }
        }

        Assert.False(weak.IsAlive, "the unloaded rule generation is still referenced");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference CompileUseAndUnload(string rulesDirectory)
    {
        var generation = RuleSetCompiler.Compile(rulesDirectory);
        new EvaluationPipeline(PipelineSettings.Default).Evaluate(generation, Deliveries.Of(Events.ConversationStatus, Status.Closed, 60), KnownConversation.Unknown(1187));
        return generation.Unload();
    }
}
