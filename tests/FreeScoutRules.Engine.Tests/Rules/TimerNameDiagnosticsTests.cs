using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Engine.Tests.Support;

namespace FreeScoutRules.Engine.Tests.Rules;

/// <summary>FSR0009 (a timer scheduled that no rule handles) and FSR0010 (a timer name tested or cancelled that no rule schedules), across the files of a rule set.</summary>
public sealed class TimerNameDiagnosticsTests : IDisposable
{
    private readonly TempDirectory _rules = new();
    private readonly TempDirectory _cacheRoot = new();

    public void Dispose()
    {
        _rules.Dispose();
        _cacheRoot.Dispose();
    }

    /// <summary>A rule that, when a conversation turns pending, does <paramref name="action"/> (<c>ctx</c>, <c>change</c>).</summary>
    private static string Scheduler(string action, string members = "", string name = "ScheduleOnPending") => $$"""
        public class {{name}} : Rule
        {
            {{members}}
            public override void Define()
            {
                StatusChanged change = default!;
                When().Match(() => change, c => c.To == ConversationStatus.Pending);
                Then().Do(ctx => {{action}});
            }
        }
        """ + "\n";

    /// <summary>A rule matching a <c>TimerElapsed</c> (<c>t</c>) on <paramref name="condition"/>.</summary>
    private static string Handler(string condition, string members = "", string name = "HandleTimer") => $$"""
        public class {{name}} : Rule
        {
            {{members}}
            public override void Define()
            {
                TimerElapsed timer = null!;
                When().Match(() => timer, t => {{condition}}, t => t.KnownStatus == ConversationStatus.Pending);
                Then().Do(ctx => ctx.Enqueue("freescout", new { conversationId = timer.ConversationId, status = "closed" }));
            }
        }
        """ + "\n";

    private List<RuleDiagnostic> Diagnostics(RuleDiagnosticSeverities? severities = null, RuleCompileCache? cache = null)
    {
        try
        {
            return [.. RuleSetCompiler.Compile(_rules.Path, cache, severities).Warnings.Where(d => d.Id is "FSR0009" or "FSR0010")];
        }
        catch (RuleCompilationException ex)
        {
            return [.. ex.Diagnostics];
        }
    }

    /// <summary>The 1-based line and column of the first <paramref name="text"/> in the file.</summary>
    private (int Line, int Column) At(string file, string text)
    {
        var content = File.ReadAllText(Path.Combine(_rules.Path, file)).ReplaceLineEndings("\n");
        var index = content.IndexOf(text, StringComparison.Ordinal);
        Assert.True(index >= 0, $"'{text}' is not in {file}");
        return (content[..index].Count(c => c == '\n') + 1, index - content.LastIndexOf('\n', Math.Max(index - 1, 0)));
    }

    [Fact]
    public void ScheduledAndHandled_RaisesNothing()
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("t.Name == \"auto-close\""));

        Assert.Empty(Diagnostics());
    }

    [Fact]
    public void ScheduledButNotHandled_IsFsr0009_AtTheNameOfTheScheduleCall()
    {
        _rules.Write("auto-close.csx", Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))"));

        var diagnostic = Assert.Single(Diagnostics());

        Assert.Equal("FSR0009", diagnostic.Id);
        Assert.False(diagnostic.IsError);
        Assert.EndsWith("auto-close.csx", diagnostic.File, StringComparison.Ordinal);
        Assert.Equal((8, 39), (diagnostic.Line, diagnostic.Column));
        Assert.Equal(At("auto-close.csx", "\"auto-close\""), (diagnostic.Line, diagnostic.Column));
        Assert.EndsWith(
            "(8,39): warning FSR0009: timer 'auto-close' is scheduled but no rule handles it (On.Timer(\"auto-close\") in a concise rule, or a rule matching TimerElapsed with Name == \"auto-close\"); it would fire and do nothing",
            diagnostic.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void HandledButNotScheduled_IsFsr0010_AtTheComparedName_WithTheNameMeant()
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("t.Name == \"auto-clsoe\""));

        var diagnostics = Diagnostics();

        var typo = Assert.Single(diagnostics, d => d.Id == "FSR0010");
        Assert.Equal(At("auto-close.csx", "\"auto-clsoe\""), (typo.Line, typo.Column));
        Assert.Equal(
            "timer 'auto-clsoe' is tested but no rule schedules it (only timers already pending under that name could match); did you mean 'auto-close'?",
            typo.Message);
        var unhandled = Assert.Single(diagnostics, d => d.Id == "FSR0009");
        Assert.Equal(At("auto-close.csx", "\"auto-close\""), (unhandled.Line, unhandled.Column));
    }

    [Theory]
    [InlineData("pending-escalation", "pending-escalate", true)] // three edits, in a long name
    [InlineData("first-response", "first-reply", false)] // five edits: another name, not a typo
    public void ALongNamesSuggestion_AllowsAFifthOfItsLengthInEdits(string handled, string scheduled, bool suggested)
    {
        _rules.Write("escalate.csx",
            Scheduler($"ctx.Schedule(\"{scheduled}\", change.ConversationId, TimeSpan.FromDays(1))")
            + Handler($"t.Name == \"{handled}\""));

        var typo = Assert.Single(Diagnostics(), d => d.Id == "FSR0010");

        Assert.Equal(suggested, typo.Message.EndsWith($"; did you mean '{scheduled}'?", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("\"auto-close\" == t.Name")]
    [InlineData("string.Equals(t.Name, \"auto-close\")")]
    [InlineData("\"auto-close\".Equals(t.Name)")]
    [InlineData("t.Name.Equals(\"AUTO-CLOSE\", StringComparison.OrdinalIgnoreCase)")]
    [InlineData("(t.Name == \"auto-close\" || t.Name == AutoClose) && t.Number == 1")]
    [InlineData("IsAutoClose(t)")]
    public void EveryFormOfNameTest_HandlesThatName_AndNoOther(string condition)
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Scheduler("ctx.Schedule(\"third\", change.ConversationId, TimeSpan.FromDays(7))", name: "ScheduleThird")
            + Handler(condition, "const string AutoClose = \"auto-close\"; static bool IsAutoClose(TimerElapsed t) => t.Name is AutoClose or (\"auto-close\");"));

        var diagnostic = Assert.Single(Diagnostics());

        Assert.Equal(("FSR0009", At("auto-close.csx", "\"third\"")), (diagnostic.Id, (diagnostic.Line, diagnostic.Column)));
    }

    [Fact]
    public void NamesInAHelperMethodsPatternsAndSwitches_AreTestedToo()
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("IsAutoClose(t)", "static bool IsAutoClose(TimerElapsed t) => t.Name is \"auto-close\" or \"auto-clsoe\";")
            + Handler(
                "t.Number > 0",
                "static string Of(TimerElapsed t) => t.Name switch { \"auto-close\" => \"a\", \"nope\" => \"n\", _ => \"\" };"
                + " static int Count(TimerElapsed t) { switch (t.Name) { case \"auto-close\": return 1; case \"nope2\": return 2; default: return 0; } }"
                + " static bool Property(TimerElapsed t) => t is { Name: \"nope3\" };",
                name: "Wildcard"));

        var diagnostics = Diagnostics();

        Assert.Equal(
            [At("auto-close.csx", "\"auto-clsoe\""), At("auto-close.csx", "\"nope\""), At("auto-close.csx", "\"nope2\""), At("auto-close.csx", "\"nope3\"")],
            diagnostics.Select(d => (d.Line, d.Column)));
        Assert.All(diagnostics, d => Assert.Equal("FSR0010", d.Id));
    }

    [Fact]
    public void AcrossTwoFiles_TheScheduleOfOneIsTheHandlerOfTheOther()
    {
        _rules.Write("schedule.csx", Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))"));
        _rules.Write("handle.csx", Handler("t.Name == \"auto-close\""));

        Assert.Empty(Diagnostics());

        File.Delete(Path.Combine(_rules.Path, "handle.csx"));
        var diagnostic = Assert.Single(Diagnostics());
        Assert.Equal("FSR0009", diagnostic.Id);
        Assert.EndsWith("schedule.csx", diagnostic.File, StringComparison.Ordinal);
    }

    [Fact]
    public void ConstantNames_InTheRuleOrInALoadedHelper_AreNames()
    {
        _rules.Write("lib/timers.csx", "public static class Timers { public const string AutoClose = \"auto-close\"; public const string Typo = \"auto-clsoe\"; }\n");
        _rules.Write("schedule.csx", "#load \"lib/timers.csx\"\n"
            + Scheduler("ctx.Schedule(AutoClose, change.ConversationId, TimeSpan.FromDays(7))", "private const string AutoClose = Timers.AutoClose;"));
        _rules.Write("handle.csx", "#load \"lib/timers.csx\"\n" + Handler("t.Name == Timers.AutoClose || t.Name == Timers.Typo"));

        var diagnostic = Assert.Single(Diagnostics());

        Assert.Equal("FSR0010", diagnostic.Id);
        Assert.EndsWith("handle.csx", diagnostic.File, StringComparison.Ordinal);
        Assert.Equal(At("handle.csx", "Timers.Typo"), (diagnostic.Line, diagnostic.Column));
        Assert.StartsWith("timer 'auto-clsoe' is tested", diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StartsWith_HandlesAFamily_ScheduledConstantOrComputed()
    {
        _rules.Write("reminders.csx",
            Scheduler("ctx.Schedule(\"reminder-12h\", change.ConversationId, TimeSpan.FromHours(12))")
            + Scheduler("ctx.Schedule($\"reminder-{Hours}h\", change.ConversationId, TimeSpan.FromHours(Hours))", "private static readonly int Hours = 24;", name: "Computed")
            + Handler("t.Name.StartsWith(\"reminder-\", StringComparison.Ordinal)"));

        Assert.Empty(Diagnostics());
    }

    [Fact]
    public void StartsWith_OfAFamilyNoRuleSchedules_IsFsr0010()
    {
        _rules.Write("reminders.csx",
            Scheduler("ctx.Schedule(\"reminder-12h\", change.ConversationId, TimeSpan.FromHours(12))")
            + Handler("t.Name.StartsWith(\"reminder-\") || t.Name.StartsWith(\"remnder-\")"));

        var diagnostic = Assert.Single(Diagnostics());

        Assert.Equal("FSR0010", diagnostic.Id);
        Assert.Equal(At("reminders.csx", "\"remnder-\""), (diagnostic.Line, diagnostic.Column));
        Assert.Equal(
            "timers whose name starts with 'remnder-' are tested but no rule schedules one (only timers already pending under such a name could match)",
            diagnostic.Message);
    }

    [Fact]
    public void AComputedName_SuppressesFsr0010_ForTheNamesItCouldBe()
    {
        _rules.Write("computed.csx",
            Scheduler("ctx.Schedule(\"reminder-\" + Hours + \"h\", change.ConversationId, TimeSpan.FromHours(Hours))", "private static readonly int Hours = 24;")
            + Handler("t.Name == \"reminder-24h\" || t.Name == \"auto-clsoe\""));

        var known = Assert.Single(Diagnostics());
        Assert.Equal(At("computed.csx", "\"auto-clsoe\""), (known.Line, known.Column));

        _rules.Write("any.csx", Scheduler("ctx.Schedule(Name, change.ConversationId, TimeSpan.FromHours(1))", "private static readonly string Name = \"x\";", name: "AnyName"));
        Assert.Empty(Diagnostics());
    }

    [Fact]
    public void ARuleMatchingEveryTimer_HandlesEveryName()
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("t.Number == 1"));

        Assert.Empty(Diagnostics());
    }

    [Fact]
    public void ATestNotUnderstood_HandlesEveryName_AndNegationIsNoHandler()
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("t.Name.Contains(\"close\", StringComparison.Ordinal)"));
        Assert.Empty(Diagnostics());

        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("t.Name != \"auto-close\""));
        Assert.Empty(Diagnostics());
    }

    [Fact]
    public void CancelOnly_IsNotScheduling_AndACancelOfANameNoRuleSchedules_IsFsr0010()
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("t.Name == \"auto-close\" || t.Name == \"never\"")
            + Scheduler("ctx.CancelTimer(\"auto-close\", change.ConversationId)", name: "Cancel")
            + Scheduler("ctx.CancelTimer(\"never\", change.ConversationId)", name: "CancelNever"));

        var diagnostics = Diagnostics();

        Assert.Equal(
            [("FSR0010", At("auto-close.csx", "\"never\", t")), ("FSR0010", At("auto-close.csx", "\"never\", change"))],
            diagnostics.Select(d => (d.Id, (d.Line, d.Column))));
        Assert.Equal(
            "timer 'never' is cancelled but no rule schedules it (the cancel only finds timers already pending under that name)",
            diagnostics[1].Message);
    }

    [Fact]
    public void Severities_CanMakeThemErrors_WhichFailTheGeneration_OrSwitchThemOff()
    {
        _rules.Write("auto-close.csx",
            Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))")
            + Handler("t.Name == \"auto-clsoe\""));

        var error = Assert.Throws<RuleCompilationException>(() => RuleSetCompiler.Compile(
            _rules.Path, severities: RuleDiagnosticSeverities.With([new("FSR0009", "error")])));
        var none = Diagnostics(RuleDiagnosticSeverities.With([new("FSR0009", "none"), new("FSR0010", "none")]));

        Assert.Contains(error.Diagnostics, d => d.Id == "FSR0009" && d.IsError);
        Assert.Contains(error.Diagnostics, d => d.Id == "FSR0010" && !d.IsError);
        Assert.Empty(none);
    }

    [Fact]
    public void FromTheCompileCache_TheTimerNamesOfAFileAreKept()
    {
        var cache = new RuleCompileCache(Path.Combine(_cacheRoot.Path, "rules-cache"));
        _rules.Write("schedule.csx", Scheduler("ctx.Schedule(\"auto-close\", change.ConversationId, TimeSpan.FromDays(7))"));
        _rules.Write("handle.csx", Handler("t.Name == \"auto-close\""));
        Assert.Empty(Diagnostics(cache: cache));

        _rules.Write("handle.csx", Handler("t.Name == \"auto-clsoe\""));
        var generation = RuleSetCompiler.Compile(_rules.Path, cache);

        Assert.Equal(2, generation.CacheHits); // schedule.csx and the built-in status rules
        Assert.Equal(
            [("FSR0009", "schedule.csx"), ("FSR0010", "handle.csx")],
            generation.Warnings.Select(d => (d.Id, Path.GetFileName(d.File))).Order());
    }
}
