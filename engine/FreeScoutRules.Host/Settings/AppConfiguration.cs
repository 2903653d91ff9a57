namespace FreeScoutRules.Host.Settings;

/// <summary>
/// The configuration every verb reads, <c>serve</c> and the CLI alike, lowest precedence first:
/// <c>appsettings.json</c> next to the executable, <c>appsettings.{DOTNET_ENVIRONMENT}.json</c>, the settings file
/// of <c>--config FILE</c> or <c>FREESCOUTRULES_CONFIG</c> (for an installed tool, whose executable's folder is in the
/// tool store), environment variables (<c>Section__Key</c>, and the documented <c>FREESCOUTRULES_*</c> shortcuts), then flags.
/// So <c>replay</c> on a server's data directory, with that server's environment, evaluates as it did.
/// </summary>
internal static class AppConfiguration
{
    /// <summary>The configuration for a CLI verb (<c>serve</c> builds the same sources on its web host).</summary>
    public static IConfigurationRoot Build(IReadOnlyDictionary<string, string?> flags)
    {
        var environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production";
        var builder = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{environment}.json", optional: true);
        if (ConfigFile() is { } file)
        {
            builder.AddJsonFile(file, optional: false);
        }

        builder.AddEnvironmentVariables();
        return AddOverrides(builder, flags).Build();
    }

    /// <summary>The variable that names a settings file; <c>--config FILE</c> sets it for the verb it runs.</summary>
    public const string ConfigVariable = "FREESCOUTRULES_CONFIG";

    /// <summary>The settings file named by <c>--config</c> or <see cref="ConfigVariable"/>, as a full path; <c>null</c> for none.</summary>
    public static string? ConfigFile() =>
        Environment.GetEnvironmentVariable(ConfigVariable) is { Length: > 0 } file ? Path.GetFullPath(file) : null;

    /// <summary>
    /// Puts the settings file (<see cref="ConfigFile"/>) into <c>serve</c>'s configuration where <see cref="Build"/> has
    /// it: above the appsettings files, below the environment variables.
    /// </summary>
    public static void InsertConfigFile(IConfigurationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (ConfigFile() is not { } file)
        {
            return;
        }

        var source = new ConfigurationBuilder().AddJsonFile(file, optional: false).Sources[0];
        // Before the environment variables without a prefix (the host reads DOTNET_-prefixed ones before the appsettings files).
        var environment = builder.Sources.ToList().FindLastIndex(s =>
            s is Microsoft.Extensions.Configuration.EnvironmentVariables.EnvironmentVariablesConfigurationSource { Prefix: null or "" });
        if (environment < 0)
        {
            builder.Sources.Add(source);
        }
        else
        {
            builder.Sources.Insert(environment, source);
        }
    }

    /// <summary>Adds the <c>FREESCOUTRULES_*</c> shortcuts, then the flags, above whatever <paramref name="builder"/> has.</summary>
    public static IConfigurationBuilder AddOverrides(IConfigurationBuilder builder, IReadOnlyDictionary<string, string?> flags)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddInMemoryCollection(EnvironmentShortcuts()).AddInMemoryCollection(flags);
    }

    /// <summary>The documented variables without the <c>Section__Key</c> spelling.</summary>
    private static Dictionary<string, string?> EnvironmentShortcuts()
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        Shortcut(values, "FREESCOUTRULES_WEBHOOK_SECRET", "Webhook:Secret");
        Shortcut(values, "FREESCOUTRULES_FREESCOUT_URL", "FreeScout:Url");
        Shortcut(values, "FREESCOUTRULES_FREESCOUT_API_KEY", "FreeScout:ApiKey");
        Shortcut(values, "FREESCOUTRULES_FREESCOUT_BOT_USER_ID", "FreeScout:BotUserId");
        Shortcut(values, "FREESCOUTRULES_FREESCOUT_BOT_USER_ID", "Dispatch:BotUserId");
        Shortcut(values, "FREESCOUTRULES_ADMIN_TOKEN", "Admin:Token");
        Shortcut(values, "FREESCOUTRULES_CONSOLE_KEY", "Console:KeyEncryptionKey");
        // Where serve listens, and so where the CLI's verbs find it (a --urls flag given to serve is that process's alone).
        Shortcut(values, "FREESCOUTRULES_URLS", "urls");
        Shortcut(values, "FREESCOUTRULES_METRICS_TOKEN", "Observability:MetricsToken");
        return values;
    }

    private static void Shortcut(Dictionary<string, string?> values, string variable, string key)
    {
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value)
        {
            values[key] = value;
        }
    }
}
