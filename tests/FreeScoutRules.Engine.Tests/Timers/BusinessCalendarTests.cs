using System.Diagnostics;
using System.Globalization;
using FreeScoutRules.Engine.Timers;
using Microsoft.Extensions.Configuration;

namespace FreeScoutRules.Engine.Tests.Timers;

/// <summary>
/// Business-hours calendars: how opening time is counted (nights, weekends, holidays, several intervals a day,
/// the days the clocks change in Europe/Berlin and America/New_York), and what a bad configuration is told.
/// </summary>
public sealed class BusinessCalendarTests
{
    private const string Weekdays = "Monday=09:00-17:00; Tuesday=09:00-17:00; Wednesday=09:00-17:00; Thursday=09:00-17:00; Friday=09:00-17:00";

    private const string AllWeek =
        "Monday=00:00-24:00; Tuesday=00:00-24:00; Wednesday=00:00-24:00; Thursday=00:00-24:00; Friday=00:00-24:00; Saturday=00:00-24:00; Sunday=00:00-24:00";

    /// <summary>An instant as ISO 8601 with its offset: the local time of the calendar's zone, to be read easily.</summary>
    private static DateTimeOffset At(string iso) => DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture);

    private static TimeSpan Hours(double hours) => TimeSpan.FromHours(hours);

    /// <summary>A calendar from <c>Day=intervals; Day=intervals</c>.</summary>
    private static CalendarOptions Options(string zone, string hours, params string[] holidays)
    {
        var options = new CalendarOptions { TimeZone = zone };
        foreach (var day in hours.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = day.Split('=', 2);
            options.Hours[parts[0]] = parts[1];
        }

        options.Holidays.AddRange(holidays);
        return options;
    }

    private static BusinessCalendar Calendar(string zone, string hours, params string[] holidays) => new("test", Options(zone, hours, holidays));

    private static BusinessCalendar Berlin(string hours = Weekdays, params string[] holidays) => Calendar("Europe/Berlin", hours, holidays);

    private static BusinessCalendar NewYork(string hours = Weekdays) => Calendar("America/New_York", hours);

    // ---- counting opening time (Europe/Berlin, January: UTC+1) ----

    [Theory]
    [InlineData("2026-01-05T10:00+01:00", 2, "2026-01-05T12:00+01:00")] // Monday, within the day
    [InlineData("2026-01-05T16:00+01:00", 2, "2026-01-06T10:00+01:00")] // over the night
    [InlineData("2026-01-09T16:00+01:00", 2, "2026-01-12T10:00+01:00")] // Friday, over the weekend
    [InlineData("2026-01-10T12:00+01:00", 2, "2026-01-12T11:00+01:00")] // starting on a Saturday
    [InlineData("2026-01-05T07:00+01:00", 1, "2026-01-05T10:00+01:00")] // before opening
    [InlineData("2026-01-05T18:00+01:00", 1, "2026-01-06T10:00+01:00")] // after closing
    [InlineData("2026-01-05T09:00+01:00", 8, "2026-01-05T17:00+01:00")] // from the opening to the closing: due at the closing
    [InlineData("2026-01-05T09:00+01:00", 8.5, "2026-01-06T09:30+01:00")]
    [InlineData("2026-01-05T17:00+01:00", 1, "2026-01-06T10:00+01:00")] // at the closing
    [InlineData("2026-01-05T09:00+01:00", 40, "2026-01-09T17:00+01:00")] // a working week
    [InlineData("2026-01-05T09:00+01:00", 100, "2026-01-21T13:00+01:00")] // 100 business hours: 2 weeks, 2 days and a half
    public void Add_CountsOnlyOpeningHours(string start, double hours, string due)
    {
        Assert.Equal(At(due), Berlin().Add(At(start), Hours(hours)));
    }

    [Theory]
    [InlineData("2026-01-05T10:00+01:00", "2026-01-05T10:00+01:00")] // open: the start itself
    [InlineData("2026-01-05T09:00+01:00", "2026-01-05T09:00+01:00")] // at the opening: open
    [InlineData("2026-01-05T07:00+01:00", "2026-01-05T09:00+01:00")] // before: the opening
    [InlineData("2026-01-05T17:00+01:00", "2026-01-06T09:00+01:00")] // at the closing: closed, the next opening
    [InlineData("2026-01-09T22:00+01:00", "2026-01-12T09:00+01:00")] // Friday night: Monday's opening
    public void Add_ZeroDuration_IsTheStartWhenOpen_OtherwiseTheNextOpening(string start, string due)
    {
        Assert.Equal(At(due), Berlin().Add(At(start), TimeSpan.Zero));
    }

    [Fact]
    public void Add_AtTheTickBeforeAndAfterTheClosing()
    {
        var calendar = Berlin();

        Assert.Equal(At("2026-01-05T17:00+01:00"), calendar.Add(At("2026-01-05T16:59:59+01:00"), TimeSpan.FromSeconds(1)));
        Assert.Equal(At("2026-01-06T09:00+01:00").AddTicks(1), calendar.Add(At("2026-01-05T17:00+01:00"), TimeSpan.FromTicks(1)));
        Assert.Equal(At("2026-01-06T09:00+01:00"), calendar.Add(At("2026-01-05T16:59:59+01:00"), TimeSpan.FromSeconds(1) + TimeSpan.FromTicks(1)).AddTicks(-1));
    }

    [Fact]
    public void Add_ReturnsUtc_WhateverTheStartsOffset()
    {
        var calendar = Berlin();

        var due = calendar.Add(At("2026-01-05T14:30+05:30"), Hours(2)); // 10:00 in Berlin

        Assert.Equal(TimeSpan.Zero, due.Offset);
        Assert.Equal(new DateTimeOffset(2026, 1, 5, 11, 0, 0, TimeSpan.Zero), due);
    }

    [Theory]
    [InlineData("2026-01-05T16:00+01:00", 2, "2026-01-07T10:00+01:00")] // Monday into Wednesday: Tuesday is a holiday
    [InlineData("2026-01-06T10:00+01:00", 1, "2026-01-07T10:00+01:00")] // starting on the holiday
    [InlineData("2026-01-06T10:00+01:00", 0, "2026-01-07T09:00+01:00")]
    [InlineData("2026-01-05T16:00+01:00", 1, "2026-01-05T17:00+01:00")] // not the day before
    public void Add_SkipsHolidays(string start, double hours, string due)
    {
        Assert.Equal(At(due), Berlin(Weekdays, "2026-01-06").Add(At(start), Hours(hours)));
    }

    [Theory]
    [InlineData("2026-01-05T11:00+01:00", 2, "2026-01-05T14:00+01:00")] // over lunch
    [InlineData("2026-01-05T11:00+01:00", 1, "2026-01-05T12:00+01:00")] // runs out at the lunch break: due then
    [InlineData("2026-01-05T12:30+01:00", 0, "2026-01-05T13:00+01:00")] // in the break: the afternoon's opening
    [InlineData("2026-01-05T16:30+01:00", 2, "2026-01-06T10:00+01:00")] // 17:30 closes
    [InlineData("2026-01-05T09:00+01:00", 7.5, "2026-01-05T17:30+01:00")]
    public void Add_SeveralIntervalsADay(string start, double hours, string due)
    {
        var calendar = Berlin("Monday=09:00-12:00, 13:00-17:30; Tuesday=13:00-17:30,09:00-12:00");

        Assert.Equal(At(due), calendar.Add(At(start), Hours(hours)));
    }

    [Fact]
    public void Add_IntervalsThatTouch_AreOne()
    {
        var calendar = Berlin("Monday=09:00-12:00, 12:00-17:00");

        Assert.Equal(At("2026-01-05T14:00+01:00"), calendar.Add(At("2026-01-05T10:00+01:00"), Hours(4)));
        Assert.Equal(At("2026-01-05T12:00+01:00"), calendar.Add(At("2026-01-05T12:00+01:00"), TimeSpan.Zero));
    }

    [Fact]
    public void Add_MidnightEnds_24_00()
    {
        var evenings = Berlin("Monday=20:00-24:00; Tuesday=00:00-02:00");
        var mondays = Berlin("Monday=00:00-24:00");

        Assert.Equal(At("2026-01-06T01:00+01:00"), evenings.Add(At("2026-01-05T23:00+01:00"), Hours(2)));
        Assert.Equal(At("2026-01-06T00:00+01:00"), mondays.Add(At("2026-01-05T00:00+01:00"), Hours(24)));
        Assert.Equal(At("2026-01-12T01:00+01:00"), mondays.Add(At("2026-01-05T00:00+01:00"), Hours(25)));
        Assert.Equal(At("2026-01-12T00:00+01:00"), mondays.Add(At("2026-01-06T00:00+01:00"), TimeSpan.Zero));
    }

    [Fact]
    public void Add_ALongDuration_OverTheSpringChange_KeepsEightHoursALocalDay()
    {
        // 1,000 business hours are 25 working weeks: from Monday 2026-01-05 09:00 (UTC+1) to Friday 2026-06-26 17:00 (UTC+2).
        var stopwatch = Stopwatch.StartNew();

        var due = Berlin().Add(At("2026-01-05T09:00+01:00"), Hours(1000));

        Assert.Equal(At("2026-06-26T17:00+02:00"), due);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public void Add_InUtc()
    {
        var calendar = Calendar("utc", "Monday=09:00-17:00");

        Assert.Equal(At("2026-01-12T10:00Z"), calendar.Add(At("2026-01-05T16:00Z"), Hours(2)));
    }

    // ---- the days the clocks change ----

    [Theory]
    // Europe/Berlin, Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    [InlineData(AllWeek, "2026-03-28T12:00+01:00", 24, "2026-03-29T13:00+02:00")] // open all the time: real hours
    [InlineData("Sunday=00:00-24:00", "2026-03-28T12:00+01:00", 23, "2026-03-30T00:00+02:00")] // that Sunday has 23 hours
    [InlineData("Sunday=00:00-24:00", "2026-03-28T12:00+01:00", 24, "2026-04-05T01:00+02:00")]
    [InlineData("Sunday=09:00-17:00", "2026-03-28T12:00+01:00", 8, "2026-03-29T17:00+02:00")] // 8 real hours, after the change
    [InlineData("Sunday=01:00-04:00", "2026-03-28T12:00+01:00", 2, "2026-03-29T04:00+02:00")] // spans the change: 2 real hours
    [InlineData("Sunday=01:00-04:00", "2026-03-28T12:00+01:00", 2.5, "2026-04-05T01:30+02:00")]
    [InlineData("Sunday=02:30-05:00", "2026-03-28T12:00+01:00", 0, "2026-03-29T03:00+02:00")] // 02:30 does not exist: opens right after the gap
    [InlineData("Sunday=02:30-05:00", "2026-03-28T12:00+01:00", 2, "2026-03-29T05:00+02:00")]
    [InlineData("Sunday=02:00-03:00", "2026-03-28T12:00+01:00", 0, "2026-04-05T02:00+02:00")] // all in the gap: not open that day
    [InlineData("Sunday=01:00-02:30", "2026-03-28T12:00+01:00", 1.5, "2026-04-05T01:30+02:00")] // ends in the gap: 1 real hour that day
    // Europe/Berlin, Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC).
    [InlineData(AllWeek, "2026-10-24T12:00+02:00", 24, "2026-10-25T11:00+01:00")]
    [InlineData("Sunday=00:00-24:00", "2026-10-24T12:00+02:00", 25, "2026-10-26T00:00+01:00")] // that Sunday has 25 hours
    [InlineData("Sunday=00:00-24:00", "2026-10-24T12:00+02:00", 24, "2026-10-25T23:00+01:00")]
    [InlineData("Sunday=09:00-17:00", "2026-10-24T12:00+02:00", 8, "2026-10-25T17:00+01:00")]
    [InlineData("Sunday=01:00-04:00", "2026-10-24T12:00+02:00", 4, "2026-10-25T04:00+01:00")] // spans the change: 4 real hours
    [InlineData("Sunday=01:00-04:00", "2026-10-24T12:00+02:00", 3, "2026-10-25T03:00+01:00")]
    [InlineData("Sunday=02:30-06:00", "2026-10-24T12:00+02:00", 0, "2026-10-25T02:30+02:00")] // 02:30 comes twice: the first
    [InlineData("Sunday=02:00-03:00", "2026-10-24T12:00+02:00", 2, "2026-10-25T03:00+01:00")] // both 02:00-03:00 hours
    [InlineData("Sunday=02:00-03:00", "2026-10-25T02:30+01:00", 0.5, "2026-10-25T03:00+01:00")] // from the second 02:30
    // America/New_York, Sunday 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    [InlineData(AllWeek, "2026-03-07T12:00-05:00", 24, "2026-03-08T13:00-04:00")]
    [InlineData("Sunday=00:00-24:00", "2026-03-07T12:00-05:00", 23, "2026-03-09T00:00-04:00")]
    [InlineData("Sunday=02:00-03:00", "2026-03-07T12:00-05:00", 0, "2026-03-15T02:00-04:00")]
    [InlineData("Sunday=09:00-17:00", "2026-03-07T12:00-05:00", 8, "2026-03-08T17:00-04:00")]
    [InlineData(Weekdays, "2026-03-06T16:00-05:00", 2, "2026-03-09T10:00-04:00")] // Friday (EST) to Monday (EDT)
    // America/New_York, Sunday 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC).
    [InlineData("Sunday=00:00-24:00", "2026-10-31T12:00-04:00", 25, "2026-11-02T00:00-05:00")]
    [InlineData("Sunday=00:00-24:00", "2026-10-31T12:00-04:00", 24, "2026-11-01T23:00-05:00")]
    [InlineData("Sunday=01:00-02:00", "2026-10-31T12:00-04:00", 0, "2026-11-01T01:00-04:00")] // 01:00 comes twice: the first
    [InlineData("Sunday=01:00-02:00", "2026-10-31T12:00-04:00", 2, "2026-11-01T02:00-05:00")] // both 01:00-02:00 hours
    [InlineData(Weekdays, "2026-10-30T16:00-04:00", 2, "2026-11-02T10:00-05:00")] // Friday (EDT) to Monday (EST)
    public void Add_OverTheClockChanges_CountsRealTime(string hours, string start, double duration, string due)
    {
        var zone = start.EndsWith("-05:00", StringComparison.Ordinal) || start.EndsWith("-04:00", StringComparison.Ordinal) ? "America/New_York" : "Europe/Berlin";

        var result = Calendar(zone, hours).Add(At(start), Hours(duration));

        Assert.Equal(At(due), result);
        Assert.Equal(TimeSpan.Zero, result.Offset);
    }

    [Theory]
    // America/Santiago changes at midnight. Sunday 2026-04-05 00:00 (UTC-3) is Saturday 23:00 again (UTC-4): that Saturday has 25 hours.
    [InlineData("Saturday=00:00-24:00", "2026-04-03T12:00-03:00", 25, "2026-04-05T00:00-04:00")]
    [InlineData("Saturday=00:00-24:00", "2026-04-03T12:00-03:00", 24, "2026-04-04T23:00-04:00")]
    // Sunday 2026-09-06 begins at 01:00 (UTC-3): midnight does not exist, the day opens right after the gap and has 23 hours.
    [InlineData("Sunday=00:00-24:00", "2026-09-05T12:00-04:00", 0, "2026-09-06T01:00-03:00")]
    [InlineData("Sunday=00:00-24:00", "2026-09-05T12:00-04:00", 23, "2026-09-07T00:00-03:00")]
    [InlineData("Saturday=00:00-24:00; Sunday=00:00-24:00", "2026-09-05T00:00-04:00", 24, "2026-09-06T01:00-03:00")] // nothing counted twice
    public void Add_WhereTheClocksChangeAtMidnight(string hours, string start, double duration, string due)
    {
        Assert.Equal(At(due), Calendar("America/Santiago", hours).Add(At(start), Hours(duration)));
    }

    [Fact]
    public void NewYork_Weekdays()
    {
        Assert.Equal(At("2026-07-07T10:00-04:00"), NewYork().Add(At("2026-07-06T16:00-04:00"), Hours(2)));
    }

    // ---- limits ----

    [Fact]
    public void Add_ANegativeDuration_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Berlin().Add(At("2026-01-05T10:00+01:00"), TimeSpan.FromTicks(-1)));
    }

    [Fact]
    public void Add_AStartAtTheEndsOfTime_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Berlin().Add(DateTimeOffset.MinValue, Hours(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Berlin().Add(DateTimeOffset.MaxValue, TimeSpan.Zero));
    }

    [Fact]
    public void Add_ACalendarNeverOpenForTenYears_Throws_InsteadOfLoopingForever()
    {
        var mondays = Enumerable.Range(0, 11 * 53).Select(week => new DateOnly(2026, 1, 5).AddDays(7 * week).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).ToArray();
        var calendar = Berlin("Monday=09:00-17:00", mondays);

        var error = Assert.Throws<InvalidOperationException>(() => calendar.Add(At("2026-01-01T10:00+01:00"), Hours(1)));

        Assert.Contains("'test' is not open at all in the ten years after 2026-01-01", error.Message, StringComparison.Ordinal);
        Assert.Contains("Calendars:test:Holidays", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_AfterManyHolidays_FindsTheFirstDayOpenAgain()
    {
        var mondays = Enumerable.Range(0, 5 * 52).Select(week => new DateOnly(2026, 1, 5).AddDays(7 * week).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).ToArray();

        var due = Berlin("Monday=09:00-17:00", mondays).Add(At("2026-01-01T10:00+01:00"), Hours(1));

        Assert.Equal(At("2030-12-30T10:00+01:00"), due);
    }

    [Fact]
    public void Add_ADurationDueMoreThanAHundredYearsLater_Throws_Quickly()
    {
        var stopwatch = Stopwatch.StartNew();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Berlin().Add(At("2026-01-05T10:00+01:00"), TimeSpan.MaxValue));

        Assert.Contains("more than a hundred years", error.Message, StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"took {stopwatch.Elapsed}");
    }

    // ---- configuration ----

    private static List<string> Problems(CalendarOptions options) =>
        new CalendarOptionsValidator().Validate(options).Errors.Select(e => $"{e.PropertyName}: {e.ErrorMessage}").ToList();

    [Fact]
    public void Validator_AcceptsAGoodCalendar()
    {
        var options = Options("Europe/Berlin", "monday=09:00-12:00, 13:00-17:30; TUESDAY= 9:00 - 17:00 ; Saturday=; Sunday=closed", "2026-12-25", "2026-12-26");

        Assert.Empty(Problems(options));
        Assert.Empty(Problems(Options("America/New_York", "Friday=00:00-24:00")));
        Assert.Empty(Problems(Options("UTC", "Friday=00:00-24:00")));
    }

    [Theory]
    [InlineData("Europe/Berlln")]
    [InlineData("W. Europe Standard Time")]
    [InlineData("Berlin")]
    [InlineData("../../etc/passwd")]
    [InlineData("+01:00")]
    public void Validator_AnUnknownTimeZone(string zone)
    {
        var problem = Assert.Single(Problems(Options(zone, Weekdays)));

        Assert.Equal($"TimeZone: '{zone}' is not a time zone this server knows: use an IANA time zone id such as Europe/Berlin, America/New_York or UTC "
            + "(the names of the tz database, in /usr/share/zoneinfo; install the tzdata package if that folder is missing).", problem);
    }

    [Fact]
    public void Validator_NoTimeZone()
    {
        Assert.Equal(
            ["TimeZone: a calendar needs a time zone: an IANA time zone id such as Europe/Berlin, America/New_York or UTC."],
            Problems(Options("", Weekdays)));
    }

    [Fact]
    public void Validator_AnUnknownDay()
    {
        Assert.Equal(
            ["Hours:Mon: 'Mon' is not a day: use Monday, Tuesday, Wednesday, Thursday, Friday, Saturday or Sunday."],
            Problems(Options("Europe/Berlin", "Mon=09:00-17:00; Tuesday=09:00-17:00")));
        Assert.Equal(
            ["Hours:1: '1' is not a day: use Monday, Tuesday, Wednesday, Thursday, Friday, Saturday or Sunday."],
            Problems(Options("Europe/Berlin", "1=09:00-17:00")));
    }

    [Theory]
    [InlineData("9-17", "9-17")]
    [InlineData("09:00", "09:00")]
    [InlineData("09:00-12:00 13:00-17:00", "09:00-12:00 13:00-17:00")]
    [InlineData("09:00-12:00,", "")]
    [InlineData("25:00-26:00", "25:00-26:00")]
    [InlineData("09:60-10:00", "09:60-10:00")]
    [InlineData("09:00-24:30", "09:00-24:30")]
    [InlineData("9am-5pm", "9am-5pm")]
    public void Validator_AMalformedInterval(string hours, string shown)
    {
        Assert.Equal(
            [$"Hours:Monday: '{shown}' is not an opening interval: write HH:mm-HH:mm, several separated by commas (e.g. 09:00-12:00, 13:00-17:30); "
                + "24:00 may end one, and an empty value or 'closed' closes the day."],
            Problems(Options("Europe/Berlin", $"Monday={hours}")));
    }

    [Theory]
    [InlineData("17:00-09:00")]
    [InlineData("09:00-09:00")]
    [InlineData("24:00-24:00")]
    public void Validator_AnIntervalThatDoesNotEndAfterItStarts(string interval)
    {
        Assert.Equal(
            [$"Hours:Monday: '{interval}' does not end after it starts: an interval lies within one day (for hours past midnight, end the day at 24:00 and open the next one at 00:00)."],
            Problems(Options("Europe/Berlin", $"Monday={interval}")));
    }

    [Theory]
    [InlineData("09:00-13:00, 12:00-17:00", "'09:00-13:00' and '12:00-17:00' overlap")]
    [InlineData("12:00-17:00, 09:00-13:00", "'09:00-13:00' and '12:00-17:00' overlap")]
    [InlineData("09:00-17:00, 10:00-11:00", "'09:00-17:00' and '10:00-11:00' overlap")]
    [InlineData("09:00-12:00, 09:00-12:00", "'09:00-12:00' and '09:00-12:00' overlap")]
    public void Validator_OverlappingIntervals(string hours, string overlap)
    {
        Assert.Equal([$"Hours:Friday: {overlap}: give each time of the day once."], Problems(Options("Europe/Berlin", $"Friday={hours}")));
    }

    [Theory]
    [InlineData("2026-13-01")]
    [InlineData("25.12.2026")]
    [InlineData("2026-2-1")]
    [InlineData("2026-02-30")]
    [InlineData("")]
    public void Validator_ABadHoliday(string holiday)
    {
        Assert.Equal(
            [$"Holidays:1: '{holiday}' is not a date: write yyyy-MM-dd (e.g. 2026-12-25), a day in the calendar's time zone."],
            Problems(Options("Europe/Berlin", Weekdays, "2026-12-25", holiday)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Monday=; Sunday=closed")]
    public void Validator_ACalendarNeverOpen(string hours)
    {
        Assert.Equal(
            ["Hours: the calendar has no opening hours, so business time on it would never pass: give at least one day, "
                + "e.g. Hours:Monday = 09:00-17:00 (several intervals separated by commas)."],
            Problems(Options("Europe/Berlin", hours)));
    }

    [Fact]
    public void CalendarsValidator_NamesTheSettings_AndChecksTheNames()
    {
        var calendars = new Dictionary<string, CalendarOptions>(StringComparer.Ordinal)
        {
            ["support"] = Options("Europe/Berlin", "Monday=9-17"),
            ["sales-EU_2"] = Options("Europe/Berlin", Weekdays),
            ["sup port"] = Options("Europe/Berlin", Weekdays),
            ["Support"] = Options("Europe/Berlin", Weekdays),
        };

        Assert.Equal(
            [
                "Calendars:support:Hours:Monday: '9-17' is not an opening interval: write HH:mm-HH:mm, several separated by commas (e.g. 09:00-12:00, 13:00-17:30); "
                    + "24:00 may end one, and an empty value or 'closed' closes the day.",
                "Calendars:sup port: 'sup port' is not a calendar name: use letters, digits, '-' and '_'.",
                "Calendars:Support: the calendars 'support' and 'Support' differ only in case: names are compared ignoring case.",
            ],
            new CalendarsValidator().Messages(calendars));
    }

    [Fact]
    public void BusinessCalendars_RefuseABadConfiguration_WithEveryProblem()
    {
        var calendars = new Dictionary<string, CalendarOptions>
        {
            ["support"] = Options("Europe/Berlln", "Mon=09:00-17:00"),
        };

        var error = Assert.Throws<ArgumentException>(() => new BusinessCalendars(calendars));

        Assert.Contains("Calendars:support:TimeZone: 'Europe/Berlln' is not a time zone", error.Message, StringComparison.Ordinal);
        Assert.Contains("Calendars:support:Hours:Mon: 'Mon' is not a day", error.Message, StringComparison.Ordinal);
    }

    // ---- the calendars by name ----

    private static BusinessCalendars SupportAndSales() => new(new Dictionary<string, CalendarOptions>
    {
        ["support"] = Options("Europe/Berlin", Weekdays),
        ["sales"] = Options("America/New_York", Weekdays),
    });

    [Fact]
    public void BusinessCalendars_AddInTheNamedCalendar_IgnoringCase()
    {
        var calendars = SupportAndSales();

        Assert.Equal(["sales", "support"], calendars.Names);
        Assert.Equal(At("2026-01-05T11:00+01:00"), calendars.Add("support", At("2026-01-05T10:00+01:00"), Hours(1)));
        Assert.Equal(At("2026-01-05T11:00-05:00"), calendars.Add("sales", At("2026-01-05T10:00-05:00"), Hours(1)));
        Assert.Equal(At("2026-01-05T11:00+01:00"), calendars.Add("Support", At("2026-01-05T10:00+01:00"), Hours(1)));
    }

    [Fact]
    public void BusinessCalendars_AnUnknownName_ListsThoseConfigured()
    {
        var error = Assert.Throws<ArgumentException>(() => SupportAndSales().Add("x", At("2026-01-05T10:00+01:00"), Hours(1)));

        Assert.StartsWith("No calendar 'x' is configured (Calendars:x); configured: sales, support.", error.Message, StringComparison.Ordinal);
        Assert.Equal("calendar", error.ParamName);
    }

    [Fact]
    public void BusinessCalendars_Empty_SaysNoneAreConfigured()
    {
        var error = Assert.Throws<ArgumentException>(() => BusinessCalendars.Empty.Add("support", At("2026-01-05T10:00+01:00"), Hours(1)));

        Assert.Empty(BusinessCalendars.Empty.Names);
        Assert.StartsWith("No calendar 'support' is configured (Calendars:support); none are configured.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CalendarOptions_BindFromConfiguration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Calendars:support:TimeZone"] = "Europe/Berlin",
            ["Calendars:support:Hours:monday"] = "09:00-12:00, 13:00-17:00",
            ["Calendars:support:Hours:Tuesday"] = "09:00-17:00",
            ["Calendars:support:Holidays:0"] = "2026-01-06",
            ["Calendars:sales:TimeZone"] = "UTC",
            ["Calendars:sales:Hours:Sunday"] = "00:00-24:00",
        }).Build();

        var options = CalendarOptions.From(configuration);
        var calendars = new BusinessCalendars(options);

        Assert.Equal("09:00-12:00, 13:00-17:00", options["SUPPORT"].Hours["Monday"]);
        Assert.Equal(["2026-01-06"], options["support"].Holidays);
        Assert.Equal(["sales", "support"], calendars.Names);
        Assert.Equal(At("2026-01-12T09:30+01:00"), calendars.Add("support", At("2026-01-05T16:00+01:00"), Hours(1.5)));
        Assert.Empty(CalendarOptions.From(new ConfigurationBuilder().Build()));
    }
}
