namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// The engine's own diagnostic ids for rule sets (the C# compiler's are <c>CSxxxx</c>).
/// Stable: documented in docs/writing-rules.md; never reuse a retired id.
/// </summary>
internal static class EngineDiagnosticIds
{
    /// <summary>A rule compares an event name with a string FreeScout never sends (<c>"convo.stauts"</c>).</summary>
    public const string UnknownEvent = "FSR0001";

    /// <summary>A rule compares a status with a string that is not a conversation status.</summary>
    public const string UnknownStatus = "FSR0002";

    /// <summary>A rule enqueues an action that no loaded plugin provides.</summary>
    public const string UnknownAction = "FSR0003";

    /// <summary>A rule does I/O or blocks (files, network, databases, Thread.Sleep, Task.Wait/Result, processes).</summary>
    public const string BlockingCall = "FSR0004";

    /// <summary><c>dynamic</c> in a rule file: it pins the rule generation in memory.</summary>
    public const string DynamicInRule = "FSR0005";

    /// <summary><c>Secret.Ref("name")</c> names a secret the server does not have configured (<c>Secrets:name</c>).</summary>
    public const string UnknownSecret = "FSR0007";

    /// <summary>A rule enqueues an action whose plugin reports a configuration problem (a missing URL, key…).</summary>
    public const string ActionNotConfigured = "FSR0008";

    /// <summary>
    /// A rule schedules a timer (<c>ctx.Schedule("auto-close", …)</c>) that no rule handles: no <c>TimerElapsed</c>
    /// condition matches its name, and no rule matches <c>TimerElapsed</c> without testing the name. Across files.
    /// </summary>
    public const string TimerNotHandled = "FSR0009";

    /// <summary>
    /// A rule tests <c>TimerElapsed.Name</c> against a name (or cancels a timer) that no rule schedules, such as
    /// the typo <c>"auto-clsoe"</c>; not reported while a scheduled name is computed and could be it. Across files.
    /// </summary>
    public const string TimerNotScheduled = "FSR0010";

    /// <summary><c>BusinessTime.After("name", …)</c> names a business calendar the server does not have configured (<c>Calendars:name</c>).</summary>
    public const string UnknownCalendar = "FSR0011";

    /// <summary>
    /// A rule excludes our own writes echoed back (<c>.NotByBot()</c>, <c>Not&lt;OwnWrite&gt;()</c>) but
    /// <c>Dispatch:BotUserId</c> is not set: no <c>OwnWrite</c> fact is ever inserted, so the rule fires on our bot's writes too.
    /// </summary>
    public const string BotUserIdNotSet = "FSR0012";

    /// <summary>The rules folder's <c>status-change.csx</c> differs from the built-in status rules, and so replaces them.</summary>
    public const string OverridesBuiltInRules = "FSR0006";

    /// <summary>The rules folder does not exist or holds no <c>.csx</c> file.</summary>
    public const string NoRules = "FSR0100";

    /// <summary>A rule class could not be constructed, or its <c>Define()</c> threw.</summary>
    public const string RuleDefinitionFailed = "FSR0101";

    /// <summary>Two rules have the same name.</summary>
    public const string DuplicateRuleName = "FSR0102";

    /// <summary>NRules could not compile a rule (for example an unsupported expression).</summary>
    public const string RuleNotCompilable = "FSR0103";

    /// <summary>A rule file could not be read.</summary>
    public const string UnreadableFile = "FSR0104";

    /// <summary>A plugin could not be loaded (<c>check --plugins</c>; the server logs it).</summary>
    public const string PluginNotLoaded = "FSR0200";
}
