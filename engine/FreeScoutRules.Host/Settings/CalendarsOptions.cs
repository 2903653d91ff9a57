using FreeScoutRules.Engine.Timers;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Settings;

/// <summary>
/// The business calendars under <c>Calendars:NAME</c> (docs/writing-rules.md, "Business hours"): read from
/// configuration as a whole, since the section's keys are the calendars' names.
/// </summary>
internal sealed class CalendarsOptions
{
    public Dictionary<string, CalendarOptions> Values { get; private set; } = new(StringComparer.OrdinalIgnoreCase);

    public void ReadFrom(IConfiguration configuration) => Values = CalendarOptions.From(configuration);

    /// <summary>The calendars, parsed (call once validated).</summary>
    public BusinessCalendars ToCalendars() => Values.Count == 0 ? BusinessCalendars.Empty : new BusinessCalendars(Values);
}

/// <summary>Validates every calendar, one line per problem as <c>Calendars:NAME:Key: problem</c>.</summary>
internal sealed class CalendarsOptionsValidator : IValidateOptions<CalendarsOptions>
{
    public ValidateOptionsResult Validate(string? name, CalendarsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new CalendarsValidator().Messages(options.Values);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
