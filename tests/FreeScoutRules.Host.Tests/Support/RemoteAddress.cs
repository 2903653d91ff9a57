using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// TestServer has no sockets, so no client address: a test says where a request comes from, by the
/// <see cref="Header"/> of the request or, without one, a fixed address for every request.
/// </summary>
internal sealed class RemoteAddress(string? fixedAddress) : IStartupFilter
{
    public const string Header = "X-Test-Remote-Address";

    /// <summary>For <c>TestServerHost.StartAsync(configure: …)</c>: each request from its <see cref="Header"/>, else <paramref name="fixedAddress"/>, else none.</summary>
    public static Action<WebApplicationBuilder> Use(string? fixedAddress = null) =>
        builder => builder.Services.AddSingleton<IStartupFilter>(new RemoteAddress(fixedAddress));

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (http, nextMiddleware) =>
        {
            var address = http.Request.Headers.TryGetValue(Header, out var given) ? given.ToString() : fixedAddress;
            if (address is not null)
            {
                http.Connection.RemoteIpAddress = IPAddress.Parse(address);
            }

            await nextMiddleware(http);
        });
        next(app);
    };
}
