namespace FreeScoutRules.Engine.Rules;

/// <summary>
/// What rule files are checked against besides themselves: the actions the loaded plugins provide
/// (FSR0003), those whose plugin reports a configuration problem (FSR0008), the names of the
/// configured secrets (FSR0007) and business calendars (FSR0011, compared ignoring case), and whether the bot user
/// is set (FSR0012: rules excluding our own writes need it). <c>null</c> members are unknown and skip their check. Immutable.
/// </summary>
internal sealed record RuleChecks(
    IReadOnlySet<string>? Actions = null,
    IReadOnlyDictionary<string, string>? UnconfiguredActions = null,
    IReadOnlySet<string>? Secrets = null,
    IReadOnlyCollection<string>? Calendars = null,
    bool? BotUserIdSet = null)
{
    public static RuleChecks None { get; } = new();

    /// <summary>A stable text of what the checks know (never a secret's value), part of the compile cache key.</summary>
    public string Key =>
        (Actions is null ? "" : "|actions:" + string.Join(",", Actions.Order(StringComparer.Ordinal)))
        + (UnconfiguredActions is null ? "" : "|unconfigured:" + string.Join(",", UnconfiguredActions.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value)))
        + (Secrets is null ? "" : "|secrets:" + string.Join(",", Secrets.Order(StringComparer.Ordinal)))
        + (Calendars is null ? "" : "|calendars:" + string.Join(",", Calendars.Order(StringComparer.OrdinalIgnoreCase)))
        + (BotUserIdSet is null ? "" : "|bot:" + (BotUserIdSet.Value ? "set" : "unset"));
}
