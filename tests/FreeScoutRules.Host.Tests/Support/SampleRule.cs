namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// The settings the annotated sample rule (rules.sample.csx) and the docs' examples need to check without
/// a warning: the secret the sample references, and a FreeScout connection for the <c>freescout</c> action.
/// </summary>
internal static class SampleRule
{
    /// <summary>The environment a CLI verb needs for the sample to compile without warnings (FSR0007).</summary>
    public static IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>
    {
        ["Secrets__support_hook_token"] = "sample-token-for-tests",
        ["FREESCOUTRULES_FREESCOUT_URL"] = "https://support.example.com",
        ["FREESCOUTRULES_FREESCOUT_API_KEY"] = "api-key-for-tests",
        ["FREESCOUTRULES_FREESCOUT_BOT_USER_ID"] = "5",
    };
}
