using FreeScoutRules.Engine.Actions;

namespace FreeScoutRules.Engine.Tests.Actions;

/// <summary>The retry schedule of the action runner.</summary>
public sealed class BackoffTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(2, 10)]
    [InlineData(3, 20)]
    [InlineData(4, 40)]
    [InlineData(10, 2560)]
    [InlineData(11, 3600)]
    [InlineData(32, 3600)]
    public void DelayBefore_DoublesFromTenSecondsUpToAnHour(int attempt, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), new ActionsOptions().DelayBefore(attempt));
    }

    [Fact]
    public void DefaultSchedule_SpansAtLeast24Hours()
    {
        var options = new ActionsOptions();
        var total = Enumerable.Range(2, options.MaxAttempts - 1).Aggregate(TimeSpan.Zero, (sum, attempt) => sum + (options.DelayBefore(attempt) * 0.8));

        Assert.True(total >= TimeSpan.FromHours(24), $"the attempts span only {total} even with the shortest jitter");
    }

    [Theory]
    [InlineData(0.0, 8)]
    [InlineData(0.5, 10)]
    [InlineData(0.999999, 12)]
    public void NextAttempt_HasPlusMinus20PercentJitter(double random, double seconds)
    {
        var next = ActionRunner.NextAttempt(new ActionsOptions(), Now, 2, retryAfter: null, random);

        Assert.Equal(seconds, (next - Now).TotalSeconds, precision: 3);
    }

    [Fact]
    public void NextAttempt_HonoursALaterRetryAfter_ButNotAnEarlierOne()
    {
        var options = new ActionsOptions();

        Assert.Equal(Now.AddMinutes(5), ActionRunner.NextAttempt(options, Now, 2, TimeSpan.FromMinutes(5), 0.5));
        Assert.Equal(Now.AddSeconds(10), ActionRunner.NextAttempt(options, Now, 2, TimeSpan.FromSeconds(1), 0.5));
    }
}
