namespace FreeScoutRules.Engine.Pipeline;

/// <summary>
/// The settings that change what an evaluation produces. <c>serve</c>, the admin API's re-runs and the
/// CLI verbs build them from the same configuration (<c>Dispatch:BotUserId</c>,
/// <c>Dispatch:RuleActionLimit</c>, <c>Dispatch:RuleActionWindow</c>), so they evaluate alike.
/// </summary>
/// <param name="BotUserId">Our bot user in FreeScout: a delivery whose newest thread it wrote through the API gets an <c>OwnWrite</c> fact.</param>
/// <param name="RuleActionLimit">At most this many intents per rule and conversation among deliveries received within <paramref name="RuleActionWindow"/>.</param>
/// <param name="RuleActionWindow">The window of the limit.</param>
internal sealed record PipelineSettings(int? BotUserId, int RuleActionLimit, TimeSpan RuleActionWindow)
{
    /// <summary>The business calendars <c>BusinessTime.After</c> counts in (<c>Calendars:NAME</c>); none by default.</summary>
    public FreeScoutRules.Timers.IBusinessCalendars Calendars { get; init; } = Timers.BusinessCalendars.Empty;

    /// <summary>No bot user; 20 intents per rule and conversation per hour.</summary>
    public static PipelineSettings Default { get; } = new(null, 20, TimeSpan.FromHours(1));

    /// <summary>The settings for people: what a rule's result may depend on.</summary>
    public override string ToString() =>
        $"Calendars={(Calendars.Names.Count == 0 ? "(none)" : string.Join(",", Calendars.Names))}, Dispatch:BotUserId={(BotUserId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(none)")}, Dispatch:RuleActionLimit={RuleActionLimit}, Dispatch:RuleActionWindow={RuleActionWindow}";
}

