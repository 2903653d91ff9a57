using System.Globalization;
using System.Security;
using System.Text.RegularExpressions;

namespace FreeScoutRules.Engine.Timers;

/// <summary>An opening interval of one day, as times of day: from <see cref="Start"/> (inclusive) to <see cref="End"/> (exclusive, up to 24:00).</summary>
internal readonly record struct OpeningInterval(TimeSpan Start, TimeSpan End)
{
    public override string ToString() => $"{Format(Start)}-{Format(End)}";

    private static string Format(TimeSpan time) =>
        time == TimeSpan.FromDays(1) ? "24:00" : time.ToString(@"hh\:mm", CultureInfo.InvariantCulture);
}

/// <summary>
/// Reads the parts of a <see cref="CalendarOptions"/>: its name, time zone, opening hours and holidays. What
/// does not read gives a message for whoever wrote the configuration (used by <see cref="CalendarOptionsValidator"/>).
/// </summary>
internal static partial class OpeningHours
{
    /// <summary>The day names <see cref="CalendarOptions.Hours"/> accepts, as a message lists them.</summary>
    public const string DayNames = "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday or Sunday";

    /// <summary>What a value of <see cref="CalendarOptions.Hours"/> may say to close the day (an empty value does too).</summary>
    public const string Closed = "closed";

    private static readonly DayOfWeek[] Days =
        [DayOfWeek.Monday, DayOfWeek.Tuesday, DayOfWeek.Wednesday, DayOfWeek.Thursday, DayOfWeek.Friday, DayOfWeek.Saturday, DayOfWeek.Sunday];

    /// <summary>True when <paramref name="name"/> can name a calendar: letters, digits, '-' and '_'.</summary>
    public static bool IsValidName(string? name) => !string.IsNullOrEmpty(name) && NamePattern().IsMatch(name);

    /// <summary>The day of an English day name (<c>Monday</c> … <c>Sunday</c>, any case; not a number).</summary>
    public static bool TryParseDay(string? name, out DayOfWeek day)
    {
        foreach (var candidate in Days)
        {
            if (string.Equals(name, candidate.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                day = candidate;
                return true;
            }
        }

        day = default;
        return false;
    }

    /// <summary>
    /// The time zone of an IANA id (<c>Europe/Berlin</c>; <c>UTC</c> in any case), from the system's time zone
    /// database, or the reason there is none in <paramref name="error"/>.
    /// </summary>
    public static bool TryFindZone(string? id, out TimeZoneInfo zone, out string error)
    {
        zone = TimeZoneInfo.Utc;
        error = "";
        if (string.IsNullOrWhiteSpace(id))
        {
            error = "a calendar needs a time zone: an IANA time zone id such as Europe/Berlin, America/New_York or UTC.";
            return false;
        }

        if (string.Equals(id, "UTC", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException or SecurityException or ArgumentException)
        {
            error = $"'{id}' is not a time zone this server knows: use an IANA time zone id such as Europe/Berlin, America/New_York "
                + "or UTC (the names of the tz database, in /usr/share/zoneinfo; install the tzdata package if that folder is missing).";
            return false;
        }
    }

    /// <summary>
    /// The opening intervals of one day's value (<c>09:00-12:00, 13:00-17:30</c>), sorted, those that touch
    /// joined; none for an empty value or <see cref="Closed"/>. Otherwise the first problem in <paramref name="error"/>.
    /// </summary>
    public static bool TryParseIntervals(string? text, out OpeningInterval[] intervals, out string error)
    {
        intervals = [];
        error = "";
        if (string.IsNullOrWhiteSpace(text) || string.Equals(text.Trim(), Closed, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var parsed = new List<OpeningInterval>();
        foreach (var part in text.Split(','))
        {
            var match = IntervalPattern().Match(part);
            if (!match.Success)
            {
                error = $"'{part.Trim()}' is not an opening interval: write HH:mm-HH:mm, several separated by commas "
                    + $"(e.g. 09:00-12:00, 13:00-17:30); 24:00 may end one, and an empty value or '{Closed}' closes the day.";
                return false;
            }

            var interval = new OpeningInterval(TimeOfDay(match.Groups["start"].Value), TimeOfDay(match.Groups["end"].Value));
            if (interval.End <= interval.Start)
            {
                error = $"'{part.Trim()}' does not end after it starts: an interval lies within one day "
                    + "(for hours past midnight, end the day at 24:00 and open the next one at 00:00).";
                return false;
            }

            parsed.Add(interval);
        }

        parsed.Sort((a, b) => a.Start.CompareTo(b.Start));
        var joined = new List<OpeningInterval> { parsed[0] };
        for (var i = 1; i < parsed.Count; i++)
        {
            var last = joined[^1];
            if (parsed[i].Start < last.End)
            {
                error = $"'{parsed[i - 1]}' and '{parsed[i]}' overlap: give each time of the day once.";
                return false;
            }

            if (parsed[i].Start == last.End)
            {
                joined[^1] = last with { End = parsed[i].End };
            }
            else
            {
                joined.Add(parsed[i]);
            }
        }

        intervals = [.. joined];
        return true;
    }

    /// <summary>A holiday's date, written <c>yyyy-MM-dd</c>.</summary>
    public static bool TryParseHoliday(string? text, out DateOnly date) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out date);

    private static TimeSpan TimeOfDay(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return new TimeSpan(
            int.Parse(text.AsSpan(0, colon), CultureInfo.InvariantCulture), int.Parse(text.AsSpan(colon + 1), CultureInfo.InvariantCulture), 0);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^\s*(?<start>(?:[01]?[0-9]|2[0-3]):[0-5][0-9]|24:00)\s*-\s*(?<end>(?:[01]?[0-9]|2[0-3]):[0-5][0-9]|24:00)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex IntervalPattern();
}
