using Microsoft.AspNetCore.Http.Features;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// The security headers of every answer of the server: the console's pages and status pages, the admin API, the webhook
/// endpoint, the probes, and every error among them (problem details included). A Content-Security-Policy that allows no
/// script at all, no framing, no MIME sniffing, no referrer. Set as a request starts (setting four constant headers costs
/// nothing measurable, also on the webhook's hot path), and again on every problem details answer, because the exception
/// handler clears the headers of a response before it writes its 500.
/// </summary>
internal static class SecurityHeaders
{
    /// <summary>The console's pages have no script and no inline style; they load only the console's stylesheet.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static void Apply(IHeaderDictionary headers)
    {
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        // Nothing to other sites; to its own pages the referrer and, above all, the real Origin of a console form's post
        // (under no-referrer browsers send Origin: null, which the console's origin check must refuse).
        headers["Referrer-Policy"] = "same-origin";
        headers.XFrameOptions = "DENY";
    }

    /// <summary>Re-applies the headers whenever problem details are written (after the exception handler cleared them too).</summary>
    public static IServiceCollection AddSecurityHeaders(this IServiceCollection services) =>
        services.Configure<ProblemDetailsOptions>(options =>
        {
            var customize = options.CustomizeProblemDetails;
            options.CustomizeProblemDetails = context =>
            {
                customize?.Invoke(context);
                Apply(context.HttpContext.Response.Headers);
            };
        });

    /// <summary>First in the pipeline: every answer starts with the headers.</summary>
    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use((http, next) =>
        {
            Apply(http.Response.Headers);
            return next(http);
        });
}
