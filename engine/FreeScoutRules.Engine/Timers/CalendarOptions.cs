using Microsoft.Extensions.Configuration;

namespace FreeScoutRules.Engine.Timers;

/// <summary>
/// One business-hours calendar, configured under <c>Calendars:NAME</c> (docs/business-hours.md):
/// <code>
/// "Calendars": {
///   "support": {
///     "TimeZone": "Europe/Berlin",
///     "Hours": { "Monday": "09:00-17:00", "Friday": "09:00-12:00, 13:00-15:00" },
///     "Holidays": [ "2026-12-25", "2026-12-26" ]
///   }
/// }
/// </code>
/// Checked by <see cref="CalendarOptionsValidator"/>; <see cref="BusinessCalendar"/> is the parsed form.
/// </summary>
internal sealed class CalendarOptions
{
    public const string Section = "Calendars";

    /// <summary>The IANA time zone id the hours and holidays are read in (<c>Europe/Berlin</c>, <c>America/New_York</c>, <c>UTC</c>).</summary>
    public string TimeZone { get; set; } = "";

    /// <summary>
    /// The weekly opening hours by English day name (<c>Monday</c> … <c>Sunday</c>, any case): one or more
    /// intervals <c>HH:mm-HH:mm</c> separated by commas, <c>24:00</c> allowed as an end. A day not listed,
    /// or listed as empty or <c>closed</c>, is closed.
    /// </summary>
    public Dictionary<string, string> Hours { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Days closed all day, as local dates <c>yyyy-MM-dd</c> in <see cref="TimeZone"/>.</summary>
    public List<string> Holidays { get; } = [];

    /// <summary>
    /// Keys of the calendar's section that are not settings, or not in the shape the settings take (a misspelt
    /// <c>Holiday</c>, a single <c>Holidays</c> value, a day's hours as a list): found by <see cref="From"/>, reported by
    /// the validator, so that a holiday is never silently ignored. Key (below the calendar) and problem.
    /// </summary>
    internal List<(string Key, string Problem)> Misplaced { get; } = [];

    /// <summary>
    /// The calendars configured under <see cref="Section"/> of <paramref name="configuration"/>, by name
    /// (compared ignoring case, as configuration keys are). Not validated: see <see cref="CalendarsValidator"/>.
    /// </summary>
    public static Dictionary<string, CalendarOptions> From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var calendars = new Dictionary<string, CalendarOptions>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in configuration.GetSection(Section).GetChildren())
        {
            var options = new CalendarOptions();
            section.Bind(options);
            FindMisplaced(section, options.Misplaced);
            calendars[section.Key] = options;
        }

        return calendars;
    }

    private static void FindMisplaced(IConfigurationSection calendar, List<(string Key, string Problem)> misplaced)
    {
        foreach (var child in calendar.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "TIMEZONE":
                    break;
                case "HOURS":
                    foreach (var day in child.GetChildren().Where(d => d.Value is null && d.GetChildren().Any()))
                    {
                        misplaced.Add(($"Hours:{day.Key}", "give a day's intervals as one value, separated by commas (\"09:00-12:00, 13:00-17:00\"), not as a list."));
                    }

                    break;
                case "HOLIDAYS":
                    if (child.Value is not null)
                    {
                        misplaced.Add(("Holidays", "holidays are a list: Holidays:0, Holidays:1 … (environment Calendars__NAME__Holidays__0=2026-12-25), or a JSON array in appsettings.json."));
                    }

                    break;
                default:
                    misplaced.Add((child.Key, "not a calendar setting: a calendar has TimeZone, Hours and Holidays."));
                    break;
            }
        }
    }
}
