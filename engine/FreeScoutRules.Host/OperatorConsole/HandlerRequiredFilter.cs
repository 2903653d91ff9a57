using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;

namespace FreeScoutRules.Host.OperatorConsole;

/// <summary>
/// A console page answers only the methods it has a handler for, and GET and HEAD (a page renders without a handler);
/// any other method is 405 with <c>Allow</c>. Razor Pages render a page whose handler is missing: <c>TRACE /deliveries/2</c>
/// (anti-forgery does not check TRACE) rendered a delivery's page without loading the delivery and failed with a 500.
/// </summary>
internal sealed class HandlerRequiredFilter : IAsyncPageFilter
{
    private static readonly string[] Always = ["GET", "HEAD"];

    public Task OnPageHandlerSelectionAsync(PageHandlerSelectedContext context) => Task.CompletedTask;

    public Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var method = context.HttpContext.Request.Method;
        if (context.HandlerMethod is not null || HttpMethods.IsGet(method) || HttpMethods.IsHead(method))
        {
            return next();
        }

        context.HttpContext.Response.Headers.Allow = string.Join(", ",
            Always.Concat(context.ActionDescriptor.HandlerMethods.Select(h => h.HttpMethod.ToUpperInvariant())).Distinct(StringComparer.Ordinal));
        context.Result = new StatusCodeResult(StatusCodes.Status405MethodNotAllowed);
        return Task.CompletedTask;
    }
}
