using System.Collections.Concurrent;
using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using FreeScoutRules.Host.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.Mvc.RazorPages.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace FreeScoutRules.Host.Tests.Server;

/// <summary>
/// Hostile input never makes the server fail (5xx), and every error answer carries the security headers. The routes are
/// not a list written here: they are every <see cref="RouteEndpoint"/> of the application's <see cref="EndpointDataSource"/>,
/// with what each takes:
/// <list type="bullet">
/// <item>route parameters: from the route pattern (constraints included: a value they refuse must still answer well);</item>
/// <item>minimal APIs (webhook endpoint, admin API, stylesheet): the HTTP methods of their <see cref="IHttpMethodMetadata"/>
/// and their query parameters from <see cref="IParameterBindingMetadata"/> (every parameter of a simple type that is not a
/// route parameter; services and the request's token are not input);</item>
/// <item>Razor pages: loaded through the <see cref="PageLoader"/>, every handler (<c>OnGet</c>, <c>OnPost</c>, named ones as
/// <c>?handler=</c>) with its parameters of a simple type, and the page's bound properties: those with <c>SupportsGet</c>
/// as query parameters, all of them as form fields of a POST;</item>
/// <item>endpoints without method metadata (health probes, metrics): GET.</item>
/// </list>
/// Each operation is called with one parameter at a time set to each hostile value (the others absent, or for
/// <c>Token</c> the admin token, so that sign-in goes as far as its redirect), and every route with every other method
/// (TRACE, PUT, DELETE, PATCH, …); each as anonymous and as signed in (the console's cookie and the admin API's bearer
/// token), POSTs with the identity's own anti-forgery token so that they reach their handlers.
/// </summary>
public sealed class HostileInputTests
{
    private static readonly string[] HostileValues =
    [
        "é", "\u3000", "/é", "/\u3000/evil.example", "/\t/evil.example", "/\r\nSet-Cookie: x=1", "//evil.example", "/\\evil.example",
        "9999-12-31T23:59:59", "0001-01-01", "99999999999999999999", "-99999999999999999999", "-1", "0", "", "%", "\0",
        new string('x', 4000),
    ];

    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS"];

    /// <summary>Values that let an operation go past its first check when another parameter carries the hostile one.</summary>
    private static readonly Dictionary<string, string> Baseline = new(StringComparer.OrdinalIgnoreCase) { ["Token"] = TestServerHost.AdminToken };

    [Fact]
    public async Task EveryRouteAndHandler_WithHostileValuesAndOtherMethods_AnswersBelow500_AndEveryErrorCarriesTheSecurityHeaders()
    {
        // Real Kestrel: it checks what the test server lets through (a Location header that is not ASCII fails there).
        await using var server = await TestServerHost.StartAsync(kestrel: true);
        foreach (var name in new[] { "convo.created", "convo.status.closed", "convo.assigned" })
        {
            await server.PostFixtureAsync(name);
        }

        await server.SettledDeliveriesAsync();
        var routes = await DiscoverAsync(server.Services);
        // The discovery sees what the console and the API take (were it blind, the test would pass for nothing).
        Assert.Contains(routes, r => r.Path == "/deliveries" && r.Operations.Any(o => o.Method == "GET" && o.Query.Contains("Until")));
        Assert.Contains(routes, r => r.Path == "/signin" && r.Operations.Any(o => o.Method == "POST" && o.Form.Contains("ReturnUrl")));
        Assert.Contains(routes, r => r.Path == "/deliveries/{id:long}" && r.Operations.Any(o => o.Handler == "RetryIntent" && o.Form.Contains("intent")));
        Assert.Contains(routes, r => r.Path == "/api/deliveries" && r.Operations.Any(o => o.Query.Contains("until")));
        Assert.Contains(routes, r => r.Path == "/api/reconciliation/passes" && r.Operations.Any(o => o.Method == "POST" && o.Query.Contains("since")));
        Assert.Contains(routes, r => r.Path == "/webhooks/freescout");

        var identities = new[] { await Identity.AnonymousAsync(server.Client), await Identity.SignedInAsync(server.Client) };
        var calls = Calls(routes).SelectMany(call => identities.Select(identity => (call, identity))).ToList();
        var failures = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (c, ct) =>
        {
            using var request = c.call.ToRequest(c.identity);
            using var response = await server.Client.SendAsync(request, ct);
            if (Check(response) is { } problem)
            {
                failures.Add($"{c.identity.Name} {c.call}: {problem}");
            }
        });

        Assert.True(calls.Count > 1000, $"only {calls.Count} calls");
        Assert.True(failures.IsEmpty, $"{failures.Count} of {calls.Count} calls failed:\n{string.Join("\n", failures.OrderBy(f => !f.Contains(": 5", StringComparison.Ordinal)).ThenBy(f => f, StringComparer.Ordinal).Take(40))}");
    }

    [Theory]
    [InlineData("/é", "/")]
    [InlineData("/\u3000/evil.example", "/")]
    [InlineData("//evil.example", "/")]
    [InlineData("https://evil.example/", "/")]
    [InlineData("/deliveries?outcome=parked", "/deliveries?outcome=parked")]
    [InlineData("/conversations?q=%23%C3%A9", "/conversations?q=%23%C3%A9")]
    public async Task SignIn_GoesToItsReturnUrl_OnlyWhenItIsALocalAsciiUrl_ElseToTheOverview(string returnUrl, string expected)
    {
        await using var server = await TestServerHost.StartAsync(kestrel: true);
        var anonymous = await Identity.AnonymousAsync(server.Client);
        foreach (var inQuery in new[] { false, true })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/signin" + (inQuery ? QueryString.Create("ReturnUrl", returnUrl).ToUriComponent() : ""))
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string>(inQuery ? [] : [new("ReturnUrl", returnUrl)])
                {
                    ["Token"] = TestServerHost.AdminToken,
                    ["__RequestVerificationToken"] = anonymous.AntiforgeryToken,
                }),
            };
            request.Headers.Add("Cookie", anonymous.Cookies);

            using var response = await server.Client.SendAsync(request);

            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.Equal(expected, response.Headers.Location!.OriginalString);
        }
    }

    [Fact]
    public async Task TheDeliveriesPage_UntilTheLastSecondThereIs_ListsEverything()
    {
        await using var server = await TestServerHost.StartAsync();
        await server.PostFixtureAsync("convo.status.closed");
        await server.SettledDeliveriesAsync();
        var cookie = await ConsoleClient.SignInAsync(server.Client);

        var (status, html, _) = await ConsoleClient.GetAsync(server.Client, "/deliveries?until=9999-12-31T23:59:59&since=0001-01-01", cookie);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("/deliveries/1\"", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TRACE", "/deliveries/1", "GET, HEAD, POST")]
    [InlineData("PUT", "/deliveries/1", "GET, HEAD, POST")]
    [InlineData("POST", "/rules", "GET, HEAD")]
    public async Task AConsolePage_AskedWithAMethodItHasNoHandlerFor_Is405WithAllow(string method, string path, string allow)
    {
        await using var server = await TestServerHost.StartAsync();
        await server.PostFixtureAsync("convo.status.closed");
        var signedIn = await Identity.SignedInAsync(server.Client);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Add("Cookie", signedIn.Cookies);
        if (method != "TRACE")
        {
            request.Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = signedIn.AntiforgeryToken });
        }

        using var response = await server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(allow, string.Join(", ", response.Content.Headers.Allow));
        Assert.Empty(MissingSecurityHeaders(response));
        Assert.Contains("Error 405", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal); // the console's status page
    }

    [Theory]
    [InlineData("/api/fails")]
    [InlineData("/webhooks/fails")]
    [InlineData("/fails")]
    public async Task AnUnexpectedFailure_Is500ProblemDetails_WithTheSecurityHeaders(string path)
    {
        // A failure past every endpoint: the exception handler clears the answer's headers before it writes its 500.
        await using var server = await TestServerHost.StartAsync(configure: builder => builder.Services.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new FailingLast()));

        using var response = await server.Client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(MissingSecurityHeaders(response));
    }

    /// <summary>Appends a middleware that throws to the end of the server's pipeline (reached when no endpoint answers).</summary>
    private sealed class FailingLast : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
        {
            next(app);
            Microsoft.AspNetCore.Builder.RunExtensions.Run(app, http => http.Request.Path.Value!.EndsWith("/fails", StringComparison.Ordinal)
                ? throw new InvalidOperationException("a failure no input should cause")
                : Task.CompletedTask);
        };
    }

    /// <summary>Why an answer fails: a 5xx, or an error without the security headers; null when it is fine.</summary>
    private static string? Check(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        if (status >= 500)
        {
            return $"{status}";
        }

        if (status < 400)
        {
            return null;
        }

        var missing = MissingSecurityHeaders(response);
        return missing.Count == 0 ? null : $"{status} without {string.Join(", ", missing)}";
    }

    /// <summary>The security headers an answer lacks (or has with another value).</summary>
    private static List<string> MissingSecurityHeaders(HttpResponseMessage response)
    {
        string? Header(string name) =>
            response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? string.Join(",", values) : null;
        var missing = new List<string>();
        if (Header("Content-Security-Policy") is not { } csp || !csp.StartsWith("default-src 'none'", StringComparison.Ordinal))
        {
            missing.Add("Content-Security-Policy");
        }

        if (Header("X-Content-Type-Options") != "nosniff")
        {
            missing.Add("X-Content-Type-Options");
        }

        if (Header("Referrer-Policy") != "same-origin")
        {
            missing.Add("Referrer-Policy");
        }

        if (Header("X-Frame-Options") != "DENY")
        {
            missing.Add("X-Frame-Options");
        }

        return missing;
    }

    /// <summary>Every call: each operation with each input set to each hostile value, and each route with every method.</summary>
    private static IEnumerable<Call> Calls(IEnumerable<Route> routes)
    {
        foreach (var route in routes)
        {
            foreach (var method in Methods)
            {
                yield return new Call(route, method, null, null, null, Where.Query);
            }

            foreach (var operation in route.Operations)
            {
                foreach (var value in HostileValues)
                {
                    // Kestrel refuses a NUL in the path itself (a bare 400) before the application sees it.
                    foreach (var parameter in value.Contains('\0', StringComparison.Ordinal) ? [] : route.RouteParameters)
                    {
                        yield return new Call(route, operation.Method, operation, parameter, value, Where.Route);
                    }

                    foreach (var parameter in operation.Query)
                    {
                        yield return new Call(route, operation.Method, operation, parameter, value, Where.Query);
                    }

                    foreach (var parameter in operation.Form)
                    {
                        yield return new Call(route, operation.Method, operation, parameter, value, Where.Form);
                    }
                }
            }
        }
    }

    private static async Task<List<Route>> DiscoverAsync(IServiceProvider services)
    {
        var loader = services.GetRequiredService<PageLoader>();
        var routes = new List<Route>();
        foreach (var endpoint in services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var pattern = endpoint.RoutePattern;
            var routeParameters = pattern.Parameters.Select(p => p.Name).ToList();
            List<Operation> operations = [];
            if (endpoint.Metadata.GetMetadata<PageActionDescriptor>() is { } page)
            {
                var compiled = await loader.LoadAsync(page, endpoint.Metadata);
                var properties = compiled.BoundProperties.OfType<PageBoundPropertyDescriptor>().Where(p => IsSimple(p.ParameterType)).ToList();
                var query = properties.Where(p => p.Property.GetCustomAttribute<BindPropertyAttribute>()?.SupportsGet == true).Select(p => p.Name).ToList();
                foreach (var handler in compiled.HandlerMethods)
                {
                    var parameters = handler.Parameters.Where(p => IsSimple(p.ParameterType)).Select(p => p.Name).ToList();
                    var method = handler.HttpMethod.ToUpperInvariant();
                    operations.Add(method == "GET"
                        ? new Operation(method, handler.Name, [.. query, .. parameters], [])
                        : new Operation(method, handler.Name, query, [.. properties.Select(p => p.Name), .. parameters]));
                }

                if (!operations.Any(o => o.Method == "GET"))
                {
                    operations.Add(new Operation("GET", null, query, [])); // a page renders on GET without a handler
                }
            }
            else
            {
                var query = endpoint.Metadata.GetOrderedMetadata<IParameterBindingMetadata>()
                    .Where(p => !routeParameters.Contains(p.Name, StringComparer.OrdinalIgnoreCase) && IsSimple(p.ParameterInfo.ParameterType))
                    .Select(p => p.Name).ToList();
                var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods is { Count: > 0 } declared ? declared : ["GET"];
                operations.AddRange(methods.Select(m => new Operation(m, null, query, [])));
            }

            routes.Add(new Route(pattern, pattern.RawText is { Length: > 0 } raw ? "/" + raw.TrimStart('/') : "/", routeParameters, operations));
        }

        return routes;
    }

    /// <summary>A type that is bound from one text value (or a list of them); services and the request's token are not.</summary>
    private static bool IsSimple(Type type)
    {
        if (type != typeof(string) && type.IsGenericType && type.GetGenericArguments() is [var element] && typeof(System.Collections.IEnumerable).IsAssignableFrom(type))
        {
            type = element;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) || type.IsPrimitive || type.IsEnum
            || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(decimal) || type == typeof(TimeSpan) || type == typeof(Guid);
    }

    private enum Where
    {
        Route,
        Query,
        Form,
    }

    private sealed record Route(RoutePattern Pattern, string Path, IReadOnlyList<string> RouteParameters, IReadOnlyList<Operation> Operations);

    /// <summary>One way in: a method, the page handler it names, its query parameters and its form fields.</summary>
    private sealed record Operation(string Method, string? Handler, IReadOnlyList<string> Query, IReadOnlyList<string> Form);

    /// <summary>
    /// One request: <paramref name="Method"/> on <paramref name="Route"/> (route parameters <c>1</c>), for
    /// <paramref name="Operation"/> with <paramref name="Parameter"/> set to <paramref name="Value"/> in <paramref name="Where"/>.
    /// </summary>
    private sealed record Call(Route Route, string Method, Operation? Operation, string? Parameter, string? Value, Where Where)
    {
        public HttpRequestMessage ToRequest(Identity identity)
        {
            var path = "/" + string.Join("/", Route.Pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
            {
                RoutePatternLiteralPart literal => literal.Content,
                RoutePatternSeparatorPart separator => separator.Content,
                RoutePatternParameterPart parameter => Uri.EscapeDataString(Where == Where.Route && parameter.Name == Parameter ? Value! : "1"),
                _ => "",
            }))));
            var query = new Dictionary<string, string?>();
            var form = new List<KeyValuePair<string, string>>();
            if (Operation?.Handler is { } handler)
            {
                query["handler"] = handler;
            }

            foreach (var name in Operation?.Form ?? [])
            {
                if (Baseline.TryGetValue(name, out var baseline))
                {
                    form.Add(new(name, baseline));
                }
            }

            if (Where == Where.Query && Parameter is not null)
            {
                query[Parameter] = Value;
            }
            else if (Where == Where.Form && Parameter is not null)
            {
                form.RemoveAll(f => f.Key == Parameter);
                form.Add(new(Parameter, Value!));
            }

            var request = new HttpRequestMessage(new HttpMethod(Method), path + QueryString.Create(query).ToUriComponent());
            if (Method is not ("GET" or "HEAD" or "TRACE" or "OPTIONS"))
            {
                form.Add(new("__RequestVerificationToken", identity.AntiforgeryToken));
                request.Content = new FormUrlEncodedContent(form);
            }

            request.Headers.Add("Cookie", identity.Cookies);
            if (identity.Bearer is { } bearer)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
            }

            return request;
        }

        public override string ToString() =>
            $"{Method} {Route.Path}{(Operation?.Handler is { } h ? $"?handler={h}" : "")}"
            + (Parameter is null ? "" : $" with {Where.ToString().ToLowerInvariant()} {Parameter}={Describe(Value!)}");

        private static string Describe(string value) =>
            value.Length > 40 ? $"'{value[..10]}…' ({value.Length} characters)" : $"'{string.Concat(value.Select(c => c is < ' ' or > '~' ? $"\\u{(int)c:x4}" : c.ToString()))}'";
    }

    /// <summary>Who calls: the cookies (anti-forgery, and the session when signed in), the form's anti-forgery token, the bearer token.</summary>
    private sealed record Identity(string Name, string Cookies, string AntiforgeryToken, string? Bearer)
    {
        public static async Task<Identity> AnonymousAsync(HttpClient client)
        {
            var (cookie, token) = await FormAsync(client, "/signin", "");
            return new Identity("anonymous", cookie, token, null);
        }

        public static async Task<Identity> SignedInAsync(HttpClient client)
        {
            var (antiforgery, token) = await FormAsync(client, "/signin", "");
            using var signIn = new HttpRequestMessage(HttpMethod.Post, "/signin")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["Token"] = TestServerHost.AdminToken, ["__RequestVerificationToken"] = token }),
            };
            signIn.Headers.Add("Cookie", antiforgery);
            using var signedIn = await client.SendAsync(signIn);
            Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
            var cookies = $"{antiforgery}; {CookiesOf(signedIn)}";
            // The session's own anti-forgery token, from a page with a form.
            var (_, sessionToken) = await FormAsync(client, "/signout", cookies);
            return new Identity("signed in", cookies, sessionToken, TestServerHost.AdminToken);
        }

        private static async Task<(string Cookies, string Token)> FormAsync(HttpClient client, string path, string cookies)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (cookies.Length > 0)
            {
                request.Headers.Add("Cookie", cookies);
            }

            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var html = await response.Content.ReadAsStringAsync();
            var token = Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
            Assert.NotEmpty(token);
            return (CookiesOf(response), token);
        }

        private static string CookiesOf(HttpResponseMessage response) =>
            response.Headers.TryGetValues("Set-Cookie", out var set) ? string.Join("; ", set.Select(c => c.Split(';')[0])) : "";
    }
}
