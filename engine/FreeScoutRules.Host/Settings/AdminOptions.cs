namespace FreeScoutRules.Host.Settings;

/// <summary>The admin API (<c>/api/…</c>).</summary>
internal sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>
    /// The bearer token the admin API requires (<c>Authorization: Bearer …</c>), at least 16
    /// characters. Also from <c>FREESCOUTRULES_ADMIN_TOKEN</c>. Without one the admin API refuses every call.
    /// </summary>
    public string? Token { get; set; }
}

/// <summary>Where rule files and plugins are read from.</summary>
internal sealed class RulesOptions
{
    public const string Section = "Rules";

    /// <summary>The rules folder. Default <c>rules</c>.</summary>
    public string Directory { get; set; } = "rules";

    /// <summary>The plugins folder (action plugins). Default <c>plugins</c>.</summary>
    public string PluginsDirectory { get; set; } = "plugins";

    /// <summary>Severity overrides of the engine's diagnostics, e.g. <c>Rules:Severity:FSR0002 = error</c> (error, warning, none).</summary>
    public Dictionary<string, string> Severity { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
