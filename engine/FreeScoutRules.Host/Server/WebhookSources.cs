using System.Net;
using FreeScoutRules.Engine.Ingestion;

namespace FreeScoutRules.Host.Server;

/// <summary>
/// <c>Webhook:AllowedSources</c>: the networks FreeScout posts from. FreeScout signs only the body, so a captured
/// delivery could be re-posted (under another event of the same kind) by anyone who can reach the endpoint; a
/// source allow-list limits that to FreeScout's own addresses. Immutable; thread-safe.
/// </summary>
internal sealed class WebhookSources(IReadOnlyList<IPNetwork>? allowed)
{
    /// <summary>True when any source may post: no list is configured.</summary>
    public bool AllowsAny => allowed is null;

    /// <summary>True when <paramref name="address"/> (the real client: forwarded headers are applied before) is in a configured network.</summary>
    public bool Allows(IPAddress? address)
    {
        if (allowed is null)
        {
            return true;
        }

        if (address is null)
        {
            return false; // no address to check (a Unix socket): refused rather than trusted
        }

        var normal = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return allowed.Any(network => network.Contains(normal));
    }

    /// <summary>Refuses a delivery from a source outside the list with 403, before its body is read.</summary>
    public sealed class Filter(WebhookSources sources, WebhookRefusals refusals) : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            ArgumentNullException.ThrowIfNull(context);
            ArgumentNullException.ThrowIfNull(next);
            var address = context.HttpContext.Connection.RemoteIpAddress;
            if (sources.Allows(address))
            {
                return await next(context);
            }

            var detail = $"Deliveries are accepted only from Webhook:AllowedSources; {(address is null ? "this connection has no address" : $"{address} is not in it")}.";
            refusals.Refused(context.HttpContext, "source", detail);
            return WebhookEndpoint.Problem(StatusCodes.Status403Forbidden, "Source not allowed", detail);
        }
    }
}
