using System.Reflection;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;

namespace FreeScoutRules.Host.OperatorConsole;

/// <summary>
/// The operator console: server-rendered Razor Pages under <c>/</c> on the server's own port, for the people who run
/// the help desk's automation. Signed in with the admin token (a form, then an HttpOnly, SameSite=Strict cookie,
/// Secure over HTTPS); every form carries an anti-forgery token (Razor Pages validate them on every POST); every
/// page is sent with a Content-Security-Policy that allows no inline script or style. The pages read through the
/// same storage ports and services as the admin API, which keeps its bearer token.
/// </summary>
internal static class ConsoleComposition
{
    public const string CookieName = "fsr-console";

    public static IServiceCollection AddOperatorConsole(this IServiceCollection services, string dataDirectory)
    {
        // The keys that sign the sign-in cookie and the anti-forgery tokens live with the data, so a restart keeps
        // people signed in; the data directory is the server's own (its database holds more than these keys).
        services.AddDataProtection()
            .SetApplicationName("FreeScoutRules")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDirectory, "console-keys")));
        services.AddRazorPages(pages =>
        {
            pages.RootDirectory = "/OperatorConsole/Pages";
            pages.Conventions.AuthorizeFolder("/");
            pages.Conventions.AllowAnonymousToPage("/SignIn");
        }).AddApplicationPart(typeof(ConsoleComposition).Assembly); // also when the entry assembly is another (a test host)
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(cookie =>
        {
            cookie.Cookie.Name = CookieName;
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.LoginPath = "/signin";
            cookie.LogoutPath = "/signout";
            cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
            cookie.SlidingExpiration = true;
        });
        services.AddAuthorization();
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = "fsr-console-antiforgery";
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        return services;
    }

    /// <summary>Security headers on every console answer, the stylesheet, and the pages.</summary>
    public static WebApplication MapOperatorConsole(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (!http.Request.Path.StartsWithSegments("/api") && !http.Request.Path.StartsWithSegments("/webhooks"))
            {
                var headers = http.Response.Headers;
                headers.ContentSecurityPolicy =
                    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers.XFrameOptions = "DENY";
            }

            await next(http);
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/console.css", () => Results.Text(Stylesheet.Value, "text/css; charset=utf-8")).AllowAnonymous();
        app.MapRazorPages();
        return app;
    }

    private static readonly Lazy<string> Stylesheet = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("FreeScoutRules.Host.OperatorConsole.console.css")
            ?? throw new InvalidOperationException("The console's stylesheet is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}
