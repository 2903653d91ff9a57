namespace FreeScoutRules.Host.Settings;

/// <summary>The admin API (<c>/api/…</c>).</summary>
internal sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>
    /// The bearer token the admin API requires (<c>Authorization: Bearer …</c>) and the console's sign-in takes: at least
    /// 32 characters with at least 10 different ones (<see cref="TokenStrength"/>; <c>freescout-rules token</c> prints one).
    /// Also from <c>FREESCOUTRULES_ADMIN_TOKEN</c>. Without one the admin API refuses every call.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>How many wrong tokens a client may present (<c>Admin:Throttle:*</c>).</summary>
    public ThrottleOptions Throttle { get; set; } = new();
}

/// <summary>Where rule files and plugins are read from.</summary>
internal sealed class RulesOptions
{
    public const string Section = "Rules";

    /// <summary>The rules folder. Default <c>rules</c>.</summary>
    public string Directory { get; set; } = "rules";

    /// <summary>
    /// True when no setting or flag names the folder (it is the default <c>rules</c>): then a missing folder means the
    /// built-in rules alone, with a warning; a folder named explicitly must exist. Not a setting of its own.
    /// </summary>
    public bool DirectoryOptional { get; internal set; }

    /// <summary>Sets <see cref="DirectoryOptional"/> from whether <paramref name="configuration"/> names the folder.</summary>
    public void ReadDirectoryOptional(IConfiguration configuration) =>
        DirectoryOptional = string.IsNullOrEmpty(configuration[$"{Section}:{nameof(Directory)}"]);

    /// <summary>The plugins folder (action plugins dropped in by ops). Default <c>action-plugins</c> (not the repository's <c>plugins/</c>, which holds their source).</summary>
    public string PluginsDirectory { get; set; } = "action-plugins";

    /// <summary>Severity overrides of the engine's diagnostics, e.g. <c>Rules:Severity:FSR0002 = error</c> (error, warning, none).</summary>
    public Dictionary<string, string> Severity { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// How long the live instances (several on PostgreSQL) may run different rule generations (a rollout) before
    /// <c>/readyz</c> says so. <c>00:00:00</c>: never. Default 10 minutes.
    /// </summary>
    public TimeSpan MaxGenerationSkew { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// Secrets by name (<c>Secrets:NAME</c>, or <c>Secrets__NAME</c> in the environment), referenced from rules
/// with <c>Secret.Ref("NAME")</c> and put into action arguments only when an attempt runs. Never logged,
/// stored or shown; only the names are ever used elsewhere (FSR0007).
/// </summary>
internal sealed class SecretsOptions
{
    public const string Section = "Secrets";

    public Dictionary<string, string> Values { get; } = new(StringComparer.Ordinal);

    /// <summary>Reads the section's keys and values.</summary>
    public static SecretsOptions From(IConfiguration configuration) => new SecretsOptions().ReadFrom(configuration);

    /// <summary>Adds the section's keys and values to <see cref="Values"/>.</summary>
    public SecretsOptions ReadFrom(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        foreach (var entry in configuration.GetSection(Section).GetChildren())
        {
            Values[entry.Key] = entry.Value ?? "";
        }

        return this;
    }
}
