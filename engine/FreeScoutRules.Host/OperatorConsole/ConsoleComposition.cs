using System.Reflection;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.Extensions.Options;

namespace FreeScoutRules.Host.OperatorConsole;

/// <summary>
/// The operator console: server-rendered Razor Pages under <c>/</c> on the server's port, for the people who run
/// the help desk's automation. Signed in with the admin token (a form, then an HttpOnly, SameSite=Strict cookie,
/// Secure over HTTPS); every form carries an anti-forgery token (Razor Pages validate them on every POST); every
/// page is sent with a Content-Security-Policy that allows no inline script or style. The pages read through the
/// same storage ports and services as the admin API, which keeps its bearer token.
/// </summary>
internal static class ConsoleComposition
{
    public const string CookieName = "fsr-console";

    /// <param name="services">The server's services.</param>
    /// <param name="dataDirectory">Where the keys are kept when they are not shared.</param>
    /// <param name="sharedKeys">
    /// The instances share one store (PostgreSQL): the keys live in it (<see cref="Engine.Storage.ISharedKeys"/>), encrypted
    /// with <c>Console:KeyEncryptionKey</c>, so that a sign-in on one instance is valid on every one.
    /// </param>
    public static IServiceCollection AddOperatorConsole(this IServiceCollection services, string dataDirectory, bool sharedKeys = false)
    {
        // The keys that sign the sign-in cookie and the anti-forgery tokens live with the data, so a restart keeps
        // people signed in: in the data directory (the server's own; its database holds more than these keys), with
        // PersistKeysToFileSystem's repository, the keys' folder 0700 and their files 0600 (PrivateKeyRepository); or, for
        // instances that share a database, in it, encrypted with a key from configuration that is never stored.
        var keys = new DirectoryInfo(Path.Combine(dataDirectory, "console-keys"));
        services.AddDataProtection().SetApplicationName("FreeScoutRules");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(options =>
        {
            if (sharedKeys)
            {
                options.XmlRepository = new SharedKeyRepository(sp.GetRequiredService<Engine.Storage.ISharedKeys>());
                var secret = sp.GetRequiredService<IOptions<Settings.ConsoleOptions>>().Value.KeyEncryptionKey;
                if (!string.IsNullOrEmpty(secret))
                {
                    options.XmlEncryptor = new ConsoleKeyEncryptor(ConsoleKeyEncryptor.Derive(secret));
                }
            }
            else
            {
                options.XmlRepository = new PrivateKeyRepository(keys, sp.GetRequiredService<ILoggerFactory>());
            }
        }));
        services.AddRazorPages(pages =>
        {
            pages.RootDirectory = "/OperatorConsole/Pages";
            pages.Conventions.AuthorizeFolder("/");
            pages.Conventions.AllowAnonymousToPage("/SignIn");
            pages.Conventions.ConfigureFilter(new HandlerRequiredFilter());
        }).AddApplicationPart(typeof(ConsoleComposition).Assembly); // also when the entry assembly is another (a test host)
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(cookie =>
        {
            cookie.Cookie.Name = CookieName;
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.LoginPath = "/signin";
            cookie.LogoutPath = "/signout";
            // Eight hours from signing in, not renewed by use: a copied cookie does not live on while it is used.
            cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
            cookie.SlidingExpiration = false;
            cookie.Events.OnValidatePrincipal = RejectUnlessSignedInWithTheCurrentToken;
            // Redirects name no host: the handler builds absolute ones from the request's Host header, which the client
            // chooses (with AllowedHosts unset, anything), so a forged Host would be sent back as where to sign in.
            cookie.Events.OnRedirectToLogin = RedirectWithinThisSite;
            cookie.Events.OnRedirectToAccessDenied = RedirectWithinThisSite;
            cookie.Events.OnRedirectToLogout = RedirectWithinThisSite;
            cookie.Events.OnRedirectToReturnUrl = RedirectWithinThisSite;
        });
        services.AddAuthorization();
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = "fsr-console-antiforgery";
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddSingleton<Microsoft.AspNetCore.Antiforgery.IAntiforgeryAdditionalDataProvider, SessionBoundAntiforgery>();
        return services;
    }

    private static Task RedirectWithinThisSite(RedirectContext<CookieAuthenticationOptions> context)
    {
        var target = new Uri(context.RedirectUri, UriKind.RelativeOrAbsolute);
        context.Response.Redirect(target.IsAbsoluteUri ? target.PathAndQuery : context.RedirectUri);
        return Task.CompletedTask;
    }

    /// <summary>The claim that ties a sign-in to the admin token it was made with (a hash, never the token).</summary>
    public const string TokenClaim = "fsr:token";

    /// <summary>The claim that names one sign-in (random): every form's anti-forgery token is bound to it.</summary>
    public const string SessionClaim = "fsr:session";

    /// <summary>A one-way fingerprint of the admin token, for the sign-in cookie: changing or removing the token ends every session.</summary>
    public static string Fingerprint(string token) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("fsr-console\n" + token)));

    private static async Task RejectUnlessSignedInWithTheCurrentToken(CookieValidatePrincipalContext context)
    {
        var token = context.HttpContext.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Settings.AdminOptions>>().Value.Token;
        var claim = context.Principal?.FindFirst(TokenClaim)?.Value;
        // A cookie without a session of its own (signed in before 0.8) is signed out: every session's forms are bound to it.
        if (string.IsNullOrEmpty(token) || claim is null || context.Principal?.FindFirst(SessionClaim) is null
            || !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(claim), System.Text.Encoding.ASCII.GetBytes(Fingerprint(token))))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        }
    }

    /// <summary>Status pages and sign-in on the console's paths, the stylesheet, and the pages.</summary>
    public static WebApplication MapOperatorConsole(this WebApplication app)
    {
        // Only on the console's paths: the webhook endpoint (the hot path), the admin API and the probes skip all of it.
        app.UseWhen(http => IsConsole(http.Request.Path), console =>
        {
            // The security headers (a Content-Security-Policy without script, …) are the server's, on every answer: Server/SecurityHeaders.cs.
            // A console page that fails says so in a page of the console (the browser's own error screen has no way back).
            console.UseStatusCodePages(async context =>
            {
                var http = context.HttpContext;
                var (title, detail) = http.Response.StatusCode switch
                {
                    StatusCodes.Status400BadRequest => ("The form was refused",
                        "Its anti-forgery token was missing or out of date (a form kept open across a restart or a new sign-in, or posted from elsewhere). Go back, reload the page and try again."),
                    StatusCodes.Status403Forbidden when http.Items[CrossOrigin] is (string from, string expected) => ("The form was refused",
                        $"It was posted from {System.Net.WebUtility.HtmlEncode(from)}, and this console takes forms only from {System.Net.WebUtility.HtmlEncode(expected)}. "
                        + "If that is where you opened it, set Console:PublicOrigin to the address in your browser (behind a reverse proxy, the server cannot see it)."),
                    StatusCodes.Status404NotFound => ("Not found", "There is no such page, delivery or conversation (it may have been pruned by retention)."),
                    _ => ($"Error {http.Response.StatusCode}", "The server could not answer this page; its log says why."),
                };
                http.Response.ContentType = "text/html; charset=utf-8";
                await http.Response.WriteAsync(
                    $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · FreeScoutRules</title><link rel=\"stylesheet\" href=\"/console.css\"></head>"
                    + $"<body><main><h1>{title}</h1><p>{detail}</p><p><a href=\"/\">Back to the console</a></p></main></body></html>");
            });
            console.Use(RefuseCrossOriginPostsAsync);
            console.UseAuthentication();
            console.UseAuthorization();
        });
        app.MapGet("/console.css", () => Results.Text(Stylesheet.Value, "text/css; charset=utf-8")).AllowAnonymous();
        app.MapRazorPages();
        return app;
    }

    private const string CrossOrigin = "fsr:cross-origin";

    /// <summary>
    /// A console form (any method but GET, HEAD, OPTIONS, TRACE) whose <c>Origin</c> header, or without one its
    /// <c>Referer</c>, names another origin than the console's (<c>Console:PublicOrigin</c>, else the request's own scheme
    /// and host) is refused with 403 before anything reads it; <c>Origin: null</c> (a sandboxed or privacy-hidden origin)
    /// too. A request with neither header goes on, and its anti-forgery token decides (browsers send <c>Origin</c> with
    /// every form post; tools such as curl send neither). Written here because ASP.NET Core has no origin check for forms
    /// (its CORS middleware governs what scripts may read, not what forms may post).
    /// </summary>
    private static async Task RefuseCrossOriginPostsAsync(HttpContext http, RequestDelegate next)
    {
        var request = http.Request;
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method) || HttpMethods.IsTrace(request.Method))
        {
            await next(http);
            return;
        }

        var origin = request.Headers.Origin.ToString();
        var referer = request.Headers.Referer.ToString();
        var from = origin.Length > 0 ? origin : referer;
        if (from.Length == 0)
        {
            await next(http);
            return;
        }

        var expected = http.RequestServices.GetRequiredService<IOptions<Settings.ConsoleOptions>>().Value.Origin()
            ?? Settings.ConsoleOptions.OriginOf($"{request.Scheme}://{request.Host}", allowPath: false);
        var actual = Settings.ConsoleOptions.OriginOf(from, allowPath: origin.Length == 0);
        if (actual is not null && string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
        {
            await next(http);
            return;
        }

        http.Items[CrossOrigin] = (actual ?? from, expected ?? "");
        http.Response.StatusCode = StatusCodes.Status403Forbidden;
    }

    /// <summary>Everything but the admin API, the webhook endpoint, metrics and the health probes.</summary>
    private static bool IsConsole(PathString path) =>
        !path.StartsWithSegments("/api") && !path.StartsWithSegments("/webhooks") && !path.StartsWithSegments("/metrics")
        && !path.StartsWithSegments("/healthz") && !path.StartsWithSegments("/readyz");

    private static readonly Lazy<string> Stylesheet = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("FreeScoutRules.Host.OperatorConsole.console.css")
            ?? throw new InvalidOperationException("The console's stylesheet is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}

/// <summary>
/// The console's data-protection keys in the data directory, as <c>PersistKeysToFileSystem</c> keeps them, but private:
/// the folder is created 0700 and each key file, written 0644 under a usual umask, is made 0600 once stored.
/// </summary>
internal sealed class PrivateKeyRepository(DirectoryInfo directory, ILoggerFactory loggers) : FileSystemXmlRepository(directory, loggers)
{
    public override void StoreElement(System.Xml.Linq.XElement element, string friendlyName)
    {
        Engine.Storage.PrivateFiles.CreateDirectory(Directory.FullName);
        base.StoreElement(element, friendlyName);
        Engine.Storage.PrivateFiles.Tighten(Directory.FullName);
    }
}

/// <summary>
/// Binds every console form's anti-forgery token to the sign-in it was rendered for (the <see cref="ConsoleComposition.SessionClaim"/>,
/// empty before signing in): a token pair taken from one session is refused in another, though both signed in with
/// the same admin token. ASP.NET Core's own extension point for it.
/// </summary>
internal sealed class SessionBoundAntiforgery : Microsoft.AspNetCore.Antiforgery.IAntiforgeryAdditionalDataProvider
{
    public string GetAdditionalData(HttpContext context) => Session(context);

    public bool ValidateAdditionalData(HttpContext context, string additionalData) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(additionalData ?? ""), System.Text.Encoding.UTF8.GetBytes(Session(context)));

    private static string Session(HttpContext context) => context.User.FindFirst(ConsoleComposition.SessionClaim)?.Value ?? "";
}
