using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Host.Settings;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// Builds the <c>serve</c> web application. Configuration, lowest precedence first: appsettings.json
/// next to the executable, <c>appsettings.{Environment}.json</c>, environment variables
/// (<c>Section__Key</c>, and <c>FREESCOUTRULES_WEBHOOK_SECRET</c>, <c>FREESCOUTRULES_ADMIN_TOKEN</c>),
/// then command-line flags.
/// </summary>
internal static partial class ServerApp
{
    public static WebApplication Build(IReadOnlyDictionary<string, string?> flags, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(flags);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        AppConfiguration.InsertConfigFile(builder.Configuration);
        AppConfiguration.AddOverrides(builder.Configuration, flags);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        builder.Services.AddFreeScoutRules(builder.Configuration);
        configure?.Invoke(builder);

        var app = builder.Build();
        MakeDataDirectoryPrivate(app);
        app.MapFreeScoutRules();
        WarnIfInsecure(app);
        return app;
    }

    /// <summary>
    /// The data directory 0700 and everything in it private to the server's user (files 0600), whatever the umask and
    /// whatever an earlier release left (it created the database 0644 and the folders 0755).
    /// </summary>
    private static void MakeDataDirectoryPrivate(WebApplication app)
    {
        var directory = app.Services.GetRequiredService<IOptions<Engine.Storage.StorageOptions>>().Value.DataDirectory;
        Engine.Storage.PrivateFiles.CreateDirectory(directory);
        var changed = Engine.Storage.PrivateFiles.Tighten(directory);
        if (changed.Count > 0)
        {
            LogTightened(app.Logger, Path.GetFullPath(directory), changed.Count);
        }
    }

    [LoggerMessage(EventId = 12102, Level = LogLevel.Information,
        Message = "Data directory {Directory}: {Count} files and folders were readable by other users; now only by this one (folders 0700, files 0600)")]
    private static partial void LogTightened(ILogger logger, string directory, int count);

    private static void WarnIfInsecure(WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<WebhookOptions>>().Value.SkipsSignatures)
        {
            app.Logger.LogWarning(
                "INSECURE DEVELOPMENT MODE: webhook signatures are NOT checked; anyone who can reach this server can post deliveries. Never run like this in production: set FREESCOUTRULES_WEBHOOK_SECRET instead of --insecure-dev.");
        }
    }
}
