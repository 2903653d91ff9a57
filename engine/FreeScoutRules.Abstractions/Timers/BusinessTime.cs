namespace FreeScoutRules.Timers;

/// <summary>
/// A span of business time in a named calendar (configured under <c>Calendars:NAME</c>): only its opening
/// hours count. <c>ctx.Schedule(name, conversationId, BusinessTime.After("support", TimeSpan.FromHours(4)))</c>
/// is due once four opening hours of <c>support</c> have passed after the evaluation's clock.
/// </summary>
/// <param name="Calendar">The calendar's name.</param>
/// <param name="Duration">How much opening time must pass.</param>
public sealed record BusinessTime(string Calendar, TimeSpan Duration)
{
    /// <summary><paramref name="duration"/> of opening hours of <paramref name="calendar"/>.</summary>
    /// <exception cref="ArgumentException">The calendar name is empty or the duration negative.</exception>
    public static BusinessTime After(string calendar, TimeSpan duration)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(calendar);
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        return new BusinessTime(calendar, duration);
    }
}

/// <summary>The business calendars configured for the engine (<c>Calendars:NAME</c>).</summary>
public interface IBusinessCalendars
{
    /// <summary>The names of the calendars configured.</summary>
    IReadOnlyCollection<string> Names { get; }

    /// <summary>
    /// The instant at which <paramref name="duration"/> of opening time of <paramref name="calendar"/> has passed
    /// after <paramref name="start"/>. A zero duration gives <paramref name="start"/> when the calendar is open
    /// then, otherwise its next opening.
    /// </summary>
    /// <exception cref="ArgumentException">No calendar has that name (the message lists those configured).</exception>
    DateTimeOffset Add(string calendar, DateTimeOffset start, TimeSpan duration);
}
