namespace FreeScoutRules.Engine.Timers;

/// <summary>
/// One business-hours calendar, parsed from its <see cref="CalendarOptions"/>: weekly opening intervals and
/// holidays, read in the calendar's time zone. Immutable and thread-safe.
/// </summary>
/// <remarks>
/// <para>
/// Opening time is real elapsed time. Each local boundary of an opening interval (a day's <c>09:00</c>, its
/// <c>17:00</c>) is turned into an instant with <see cref="TimeZoneInfo"/>, so <c>09:00-17:00</c> is 8 real hours
/// on the days the clocks change too, and an interval that spans the change is as long as it really is
/// (<c>00:00-24:00</c> is 23 hours on a spring-forward day, 25 on a fall-back day).
/// </para>
/// <para>
/// A boundary that falls in a spring-forward gap (02:30 on Europe/Berlin's 2026-03-29, which goes from 02:00 to
/// 03:00) is the instant right after the gap (03:00 summer time): an interval inside the gap is empty that day.
/// A boundary that falls twice on a fall-back day (02:30 on Europe/Berlin's 2026-10-25, which goes from 03:00 back
/// to 02:00) is its earlier instant, the one on the offset in force before the change (02:30 summer time): an
/// interval <c>02:00-03:00</c> that day is two real hours long, an interval <c>02:10-02:50</c> only counts the first
/// time the clock shows those minutes.
/// </para>
/// <para>
/// A holiday closes its local date's intervals. Nothing is open at an interval's end: a zero duration at
/// 17:00 of <c>09:00-17:00</c> is the next opening, but opening time that runs out at 17:00 is due at 17:00.
/// </para>
/// </remarks>
internal sealed class BusinessCalendar
{
    /// <summary>How long without any opening time before <see cref="Add"/> gives up: ten years.</summary>
    public const int NeverOpenDays = 3653;

    /// <summary>How far after its start <see cref="Add"/> looks for the due time: a hundred years.</summary>
    public const int HorizonDays = 36525;

    private static readonly TimeSpan Day = TimeSpan.FromDays(1);
    private static readonly DateOnly FirstStart = new(2, 1, 1);
    private static readonly DateOnly LastStart = DateOnly.MaxValue.AddDays(-HorizonDays - 4);

    private readonly TimeZoneInfo _zone;
    private readonly TimeSpan? _fixedOffset;
    private readonly OpeningInterval[][] _week = new OpeningInterval[7][];
    private readonly HashSet<DateOnly> _holidays = [];

    /// <summary>Parses <paramref name="options"/>, the calendar <c>Calendars:<paramref name="name"/></c>.</summary>
    /// <exception cref="ArgumentException">The name or the options are not valid (the message has each problem, as <see cref="CalendarsValidator"/> words it).</exception>
    public BusinessCalendar(string name, CalendarOptions options)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        var problems = new CalendarsValidator().Messages(new Dictionary<string, CalendarOptions> { [name] = options });
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems), nameof(options));
        }

        // All parts read (checked above).
        Name = name;
        _zone = OpeningHours.TryFindZone(options.TimeZone, out var zone, out _) ? zone : TimeZoneInfo.Utc;
        _fixedOffset = _zone.GetAdjustmentRules().Length == 0 ? _zone.BaseUtcOffset : null;
        Array.Fill(_week, []);
        foreach (var (dayName, text) in options.Hours)
        {
            if (OpeningHours.TryParseDay(dayName, out var day) && OpeningHours.TryParseIntervals(text, out var intervals, out _))
            {
                _week[(int)day] = intervals;
            }
        }

        foreach (var holiday in options.Holidays)
        {
            if (OpeningHours.TryParseHoliday(holiday, out var date))
            {
                _holidays.Add(date);
            }
        }
    }

    public string Name { get; }

    /// <summary>The zone the opening hours and holidays are read in.</summary>
    public TimeZoneInfo TimeZone => _zone;

    /// <summary>
    /// The instant, in UTC, at which <paramref name="duration"/> of opening time has passed after
    /// <paramref name="start"/>: a zero duration gives <paramref name="start"/> when the calendar is open then,
    /// otherwise its next opening. Walks whole opening intervals, a day at a time.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The duration is negative, or its due time would be more than a hundred years after the start (or past the year 9999).</exception>
    /// <exception cref="InvalidOperationException">The calendar has no opening time for ten years (every day it is open on is a holiday).</exception>
    public DateTimeOffset Add(DateTimeOffset start, TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        var at = start.UtcDateTime;
        var startDay = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(at, _zone));
        if (startDay < FirstStart || startDay > LastStart)
        {
            throw new ArgumentOutOfRangeException(nameof(start), start, $"Business time is counted from the year {FirstStart.Year} to {LastStart.Year}.");
        }

        var remaining = duration;
        var lastOpen = startDay;
        var horizon = startDay.AddDays(HorizonDays);

        // The day before: a local day's intervals end at the next midnight, which a fall-back can put after the start.
        for (var day = startDay.AddDays(-1); ; day = day.AddDays(1))
        {
            if (day.DayNumber - lastOpen.DayNumber > NeverOpenDays)
            {
                throw new InvalidOperationException(
                    $"The calendar '{Name}' is not open at all in the ten years after {lastOpen:yyyy-MM-dd}: every day it has hours on is a holiday. "
                    + $"Check Calendars:{Name}:Hours and Calendars:{Name}:Holidays.");
            }

            if (day > horizon)
            {
                throw new ArgumentOutOfRangeException(nameof(duration), duration,
                    $"{duration} of opening time of the calendar '{Name}' after {start:O} would be due more than a hundred years later.");
            }

            if (_holidays.Contains(day))
            {
                continue;
            }

            foreach (var interval in _week[(int)day.DayOfWeek])
            {
                var end = ToUtc(day, interval.End);
                if (end <= at)
                {
                    continue;
                }

                var opens = ToUtc(day, interval.Start);
                var from = opens > at ? opens : at;
                var open = end - from;
                if (open <= TimeSpan.Zero)
                {
                    continue; // Within a spring-forward gap: both ends are the instant after it.
                }

                lastOpen = day;
                if (remaining <= open)
                {
                    return new DateTimeOffset(from + remaining, TimeSpan.Zero);
                }

                remaining -= open;
            }
        }
    }

    /// <summary>
    /// The instant (a UTC <see cref="DateTime"/>) at which the calendar's clock shows <paramref name="time"/> of
    /// <paramref name="day"/> (24:00 being the next day's 00:00): the instant right after a spring-forward gap
    /// for a time in it, the earlier instant for a time a fall-back shows twice.
    /// </summary>
    private DateTime ToUtc(DateOnly day, TimeSpan time)
    {
        var local = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified) + time;
        if (_fixedOffset is { } offset)
        {
            return DateTime.SpecifyKind(local - offset, DateTimeKind.Utc);
        }

        if (_zone.IsInvalidTime(local))
        {
            local = AfterGap(local);
        }
        else if (_zone.IsAmbiguousTime(local))
        {
            return DateTime.SpecifyKind(local - _zone.GetAmbiguousTimeOffsets(local).Max(), DateTimeKind.Utc);
        }

        return TimeZoneInfo.ConvertTimeToUtc(local, _zone);
    }

    /// <summary>The first local time after <paramref name="local"/>, a time in a spring-forward gap, that the clock shows.</summary>
    private DateTime AfterGap(DateTime local)
    {
        // Gaps last an hour, half an hour, at most a day (Pacific/Apia skipped 2011-12-30): find the end by halving.
        var skipped = local.Ticks;
        var shown = (local + Day + Day).Ticks;
        while (shown - skipped > 1)
        {
            var middle = skipped + ((shown - skipped) / 2);
            if (_zone.IsInvalidTime(new DateTime(middle, DateTimeKind.Unspecified)))
            {
                skipped = middle;
            }
            else
            {
                shown = middle;
            }
        }

        return new DateTime(shown, DateTimeKind.Unspecified);
    }
}
