namespace FreeScoutRules.Host.OperatorConsole;

/// <summary>A small bar chart drawn on the server as SVG (no script, no inline style: the console's CSP allows neither).</summary>
/// <param name="Title">What the bars count, for people and screen readers.</param>
/// <param name="Bars">Each bar's label (its start, shown on hover) and value, oldest first.</param>
internal sealed record BarChart(string Title, IReadOnlyList<(string Label, long Value)> Bars)
{
    public const int Width = 600;
    public const int Height = 90;

    public long Max => Bars.Count == 0 ? 0 : Bars.Max(b => b.Value);

    public long Total => Bars.Sum(b => b.Value);

    /// <summary>Buckets from <paramref name="counts"/> with every empty one in between: <paramref name="count"/> of <paramref name="width"/> ending with the one holding <paramref name="now"/>.</summary>
    public static BarChart Of(string title, IReadOnlyList<(DateTimeOffset Start, long Count)> counts, DateTimeOffset now, TimeSpan width, int count, string format)
    {
        var last = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % width.Ticks), TimeSpan.Zero);
        var byStart = counts.ToDictionary(c => c.Start, c => c.Count);
        var bars = Enumerable.Range(0, count)
            .Select(i => last - (width * (count - 1 - i)))
            .Select(start => (start.ToString(format, System.Globalization.CultureInfo.InvariantCulture), byStart.GetValueOrDefault(start)))
            .ToList();
        return new BarChart(title, bars);
    }
}
