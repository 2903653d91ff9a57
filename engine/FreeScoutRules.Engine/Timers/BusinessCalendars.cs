using FreeScoutRules.Timers;

namespace FreeScoutRules.Engine.Timers;

/// <summary>
/// The business calendars configured under <c>Calendars:NAME</c>, parsed once. Immutable and thread-safe.
/// </summary>
/// <remarks>
/// Names are compared ignoring case (ordinally): configuration keys are, so <c>Calendars:Support</c> in
/// appsettings.json and <c>Calendars__support__TimeZone</c> in the environment are one calendar, and which of the
/// two spellings the configuration reports is not defined. <c>BusinessTime.After("Support", …)</c> therefore
/// finds the calendar <c>support</c>.
/// </remarks>
internal sealed class BusinessCalendars : IBusinessCalendars
{
    private readonly Dictionary<string, BusinessCalendar> _calendars = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Parses the calendars <paramref name="calendars"/> by name.</summary>
    /// <exception cref="ArgumentException">A name or a calendar is not valid: the message has one line per problem, as <see cref="CalendarsValidator.Messages"/> gives them.</exception>
    public BusinessCalendars(IReadOnlyDictionary<string, CalendarOptions> calendars)
    {
        ArgumentNullException.ThrowIfNull(calendars);
        var problems = new CalendarsValidator().Messages(calendars);
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems), nameof(calendars));
        }

        foreach (var (name, options) in calendars)
        {
            _calendars.Add(name, new BusinessCalendar(name, options));
        }

        Names = [.. _calendars.Keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>No calendar: <see cref="Add"/> always throws, saying none are configured.</summary>
    public static BusinessCalendars Empty { get; } = new(new Dictionary<string, CalendarOptions>());

    /// <summary>The names as configured, in ordinal order.</summary>
    public IReadOnlyCollection<string> Names { get; }

    /// <inheritdoc/>
    /// <remarks>The result is in UTC (offset zero). See <see cref="BusinessCalendar.Add"/> for how opening time is counted.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">The duration is negative, or due more than a hundred years after the start.</exception>
    /// <exception cref="InvalidOperationException">The calendar is not open at all for ten years (all its days holidays).</exception>
    public DateTimeOffset Add(string calendar, DateTimeOffset start, TimeSpan duration) => Get(calendar).Add(start, duration);

    /// <summary>The calendar <paramref name="calendar"/> (any case).</summary>
    /// <exception cref="ArgumentException">No calendar has that name; the message lists those configured.</exception>
    public BusinessCalendar Get(string calendar)
    {
        ArgumentNullException.ThrowIfNull(calendar);
        if (_calendars.TryGetValue(calendar, out var found))
        {
            return found;
        }

        var configured = Names.Count == 0 ? "none are configured" : $"configured: {string.Join(", ", Names)}";
        throw new ArgumentException($"No calendar '{calendar}' is configured (Calendars:{calendar}); {configured}.", nameof(calendar));
    }
}
