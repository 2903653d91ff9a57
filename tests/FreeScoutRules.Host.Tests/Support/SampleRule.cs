namespace FreeScoutRules.Host.Tests.Support;

/// <summary>The annotated sample rule (rules.sample.csx), and the setting it needs: the secret it references.</summary>
internal static class SampleRule
{
    /// <summary>The environment a CLI verb needs for the sample to compile without warnings (FSR0007).</summary>
    public static IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>
    {
        ["Secrets__support_hook_token"] = "sample-token-for-tests",
    };
}
