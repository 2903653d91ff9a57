using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>The signed wire fixtures and a way to sign any other body with the fixtures' test secret.</summary>
internal static class SignedDeliveries
{
    public static string FixturesDirectory => Path.Combine(AppContext.BaseDirectory, "fixtures", "freescout", "wire");

    public static string Secret { get; } = Signatures().RootElement.GetProperty("secret").GetString()!;

    /// <summary>Every fixture: (name, event, exact body bytes, signature header) in the file's order.</summary>
    public static IReadOnlyList<(string Name, string Event, byte[] Body, string Signature)> All()
    {
        using var document = Signatures();
        return [.. document.RootElement.GetProperty("deliveries").EnumerateObject().Select(d => (
            d.Name,
            d.Value.GetProperty("headers").GetProperty("X-FreeScout-Event").GetString()!,
            File.ReadAllBytes(Path.Combine(FixturesDirectory, "..", d.Value.GetProperty("file").GetString()!)),
            d.Value.GetProperty("headers").GetProperty("X-FreeScout-Signature").GetString()!))];
    }

    public static (string Event, byte[] Body, string Signature) Get(string name)
    {
        var d = All().Single(x => x.Name == name);
        return (d.Event, d.Body, d.Signature);
    }

    public static string Sign(byte[] body) =>
#pragma warning disable CA5350 // FreeScout's algorithm.
        Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(Secret), body));
#pragma warning restore CA5350

    /// <summary>A POST to the webhook endpoint as FreeScout sends it.</summary>
    public static HttpRequestMessage Request(string eventName, byte[] body, string? signature, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/freescout") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TryAddWithoutValidation("X-FreeScout-Event", eventName);
        if (signature is not null)
        {
            request.Headers.TryAddWithoutValidation("X-FreeScout-Signature", signature);
        }

        return request;
    }

    private static JsonDocument Signatures() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(FixturesDirectory, "signatures.json")));
}
