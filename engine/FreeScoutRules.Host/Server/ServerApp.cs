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
internal static class ServerApp
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
        app.MapFreeScoutRules();
        WarnIfInsecure(app);
        return app;
    }

    private static void WarnIfInsecure(WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<WebhookOptions>>().Value.SkipsSignatures)
        {
            app.Logger.LogWarning(
                "INSECURE DEVELOPMENT MODE: webhook signatures are NOT checked; anyone who can reach this server can post deliveries. Never run like this in production: set FREESCOUTRULES_WEBHOOK_SECRET instead of --insecure-dev.");
        }
    }
}
