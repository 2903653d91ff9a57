namespace FreeScoutRules.Host.Tests.Support;

/// <summary>Waits for a condition that a background loop makes true, and fails naming it when it never does.</summary>
internal static class Eventually
{
    /// <summary>Polls <paramref name="check"/> until it holds; throws <see cref="TimeoutException"/> with <paramref name="condition"/> and the last state it saw.</summary>
    public static async Task UntilAsync(string condition, Func<Task<(bool Holds, string State)>> check, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(check);
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var (holds, state) = await check();
            if (holds)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited {limit.TotalSeconds:0.#} s for {condition}; {state}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Polls <paramref name="check"/> until it holds; throws naming <paramref name="condition"/>.</summary>
    public static Task UntilAsync(string condition, Func<Task<bool>> check, TimeSpan? timeout = null) =>
        UntilAsync(condition, async () => (await check(), "it never held"), timeout);

    /// <summary>Polls <paramref name="check"/> until it holds; throws naming <paramref name="condition"/>.</summary>
    public static Task UntilAsync(string condition, Func<bool> check, TimeSpan? timeout = null) =>
        UntilAsync(condition, () => Task.FromResult((check(), "it never held")), timeout);
}
