using FluentValidation;
using FluentValidation.Results;

namespace FreeScoutRules.Engine.Timers;

/// <summary>
/// Checks one calendar's configuration. A failure's property is the configuration key below the calendar
/// (<c>TimeZone</c>, <c>Hours:Monday</c>, <c>Holidays:0</c>), so that <c>Calendars:NAME:</c> before it names the setting.
/// </summary>
internal sealed class CalendarOptionsValidator : AbstractValidator<CalendarOptions>
{
    public CalendarOptionsValidator()
    {
        RuleFor(o => o.TimeZone).Custom((id, context) =>
        {
            if (!OpeningHours.TryFindZone(id, out _, out var error))
            {
                context.AddFailure(new ValidationFailure(nameof(CalendarOptions.TimeZone), error, id));
            }
        });
        RuleFor(o => o.Hours).Custom((hours, context) =>
        {
            var open = false;
            var failed = false;
            foreach (var (day, text) in hours)
            {
                var property = $"{nameof(CalendarOptions.Hours)}:{day}";
                if (!OpeningHours.TryParseDay(day, out _))
                {
                    context.AddFailure(new ValidationFailure(property, $"'{day}' is not a day: use {OpeningHours.DayNames}.", day));
                    failed = true;
                }
                else if (!OpeningHours.TryParseIntervals(text, out var intervals, out var error))
                {
                    context.AddFailure(new ValidationFailure(property, error, text));
                    failed = true;
                }
                else
                {
                    open |= intervals.Length > 0;
                }
            }

            if (!open && !failed)
            {
                context.AddFailure(new ValidationFailure(nameof(CalendarOptions.Hours),
                    "the calendar has no opening hours, so business time on it would never pass: give at least one day, "
                    + "e.g. Hours:Monday = 09:00-17:00 (several intervals separated by commas)."));
            }
        });
        RuleFor(o => o.Holidays).Custom((holidays, context) =>
        {
            for (var i = 0; i < holidays.Count; i++)
            {
                if (!OpeningHours.TryParseHoliday(holidays[i], out _))
                {
                    context.AddFailure(new ValidationFailure($"{nameof(CalendarOptions.Holidays)}:{i}",
                        $"'{holidays[i]}' is not a date: write yyyy-MM-dd (e.g. 2026-12-25), a day in the calendar's time zone.", holidays[i]));
                }
            }
        });
    }
}

/// <summary>
/// Checks the calendars configured under <c>Calendars</c> by name: each name, then each calendar with
/// <see cref="CalendarOptionsValidator"/>. A failure's property is the key below <c>Calendars</c>
/// (<c>support:Hours:Monday</c>).
/// </summary>
internal sealed class CalendarsValidator : AbstractValidator<IReadOnlyDictionary<string, CalendarOptions>>
{
    private static readonly CalendarOptionsValidator One = new();

    public CalendarsValidator()
    {
        RuleFor(calendars => calendars).Custom((calendars, context) =>
        {
            var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, options) in calendars)
            {
                if (!OpeningHours.IsValidName(name))
                {
                    context.AddFailure(new ValidationFailure(name, $"'{name}' is not a calendar name: use letters, digits, '-' and '_'.", name));
                    continue;
                }

                if (!seen.TryAdd(name, name))
                {
                    context.AddFailure(new ValidationFailure(name, $"the calendars '{seen[name]}' and '{name}' differ only in case: names are compared ignoring case.", name));
                }

                if (options is null)
                {
                    context.AddFailure(new ValidationFailure(name, "the calendar has no settings: give its TimeZone and Hours.", name));
                    continue;
                }

                foreach (var (key, problem) in options.Misplaced)
                {
                    context.AddFailure(new ValidationFailure($"{name}:{key}", problem.Replace("NAME", name, StringComparison.Ordinal), key));
                }

                foreach (var failure in One.Validate(options).Errors)
                {
                    context.AddFailure(new ValidationFailure($"{name}:{failure.PropertyName}", failure.ErrorMessage, failure.AttemptedValue));
                }
            }
        });
    }

    /// <summary>The failures, each as <c>Calendars:NAME:Key: message</c> (how the host prints a bad setting); none when all is well.</summary>
    public IReadOnlyList<string> Messages(IReadOnlyDictionary<string, CalendarOptions> calendars) =>
        [.. Validate(calendars).Errors.Select(e => $"{CalendarOptions.Section}:{e.PropertyName}: {e.ErrorMessage}")];
}
