using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FreeScoutRules.Engine.Ingestion;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules send --events FILE.jsonl [--url URL] [--secret S]</c>: posts recorded deliveries to a
/// server the way FreeScout does (the body's exact bytes, <c>X-FreeScout-Event</c>, and
/// <c>X-FreeScout-Signature</c> = base64(HMAC-SHA1(secret, body))) and prints each answer. For trying a
/// server out, and for smoke tests after a deploy.
/// </summary>
internal static class SendCommand
{
    public static Command Create()
    {
        var events = CommonOptions.Events();
        var url = new Option<string>("--url")
        {
            Description = "The webhook endpoint or the server, e.g. http://127.0.0.1:5080 (default: the server's urls setting, else http://localhost:5000; /webhooks/freescout is added to a bare address).",
        };
        var secret = new Option<string>("--secret")
        {
            Description = "The secret to sign with (default: Webhook:Secret, FREESCOUTRULES_WEBHOOK_SECRET; without one, deliveries go unsigned, for a server started with --insecure-dev).",
        };
        var command = new Command("send", "Post recorded deliveries to a server, signed as FreeScout signs them, and print each answer.") { events, url, secret };
        command.SetAction((result, cancellationToken) => RunAsync(
            result.GetRequiredValue(events), result.GetValue(url), result.GetValue(secret),
            result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(
        FileInfo eventsFile, string? url, string? secret, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var configuration = AppConfiguration.Build(new Dictionary<string, string?>());
        secret ??= configuration["Webhook:Secret"];
        if (string.IsNullOrWhiteSpace(secret))
        {
            // A server started with --insecure-dev takes unsigned deliveries; any other answers 401, shown per line.
            await error.WriteLineAsync("No secret: sending unsigned deliveries (only a server started with --insecure-dev accepts them; give --secret or set FREESCOUTRULES_WEBHOOK_SECRET to sign).");
            secret = null;
        }

        if (await AdminApiClient.LocateAsync(url, configuration["urls"], error) is not { } address)
        {
            return ExitCodes.CannotRun;
        }

        var endpoint = address.AbsolutePath is "" or "/" ? new Uri(address, "/webhooks/freescout") : address;
        if (await CommonOptions.OpenEventsAsync(eventsFile, error) is not { } reader)
        {
            return ExitCodes.CannotRun;
        }

        using (reader)
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
        {
            var (sent, failed, clocks) = (0, 0, 0);
            var number = 0;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                number++;
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }

                if (!TryRead(line, out var eventName, out var body, out var problem, out var clock))
                {
                    if (clock)
                    {
                        clocks++; // test's {"clock": …} lines move its offline clock; a server keeps its own time
                        continue;
                    }

                    failed++;
                    await error.WriteLineAsync($"line {number}: {problem}");
                    continue;
                }

                using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Add("X-FreeScout-Event", eventName);
                if (secret is not null)
                {
                    request.Headers.Add("X-FreeScout-Signature", SignatureVerifier.Sign(secret, body));
                }
                try
                {
                    using var response = await http.SendAsync(request, cancellationToken);
                    var answer = await response.Content.ReadAsStringAsync(cancellationToken);
                    sent++;
                    failed += response.IsSuccessStatusCode ? 0 : 1;
                    await output.WriteLineAsync($"line {number}: {eventName} -> {(int)response.StatusCode} {answer}");
                }
                catch (HttpRequestException ex)
                {
                    await error.WriteLineAsync($"{endpoint}: {ex.Message} (is the server running? --url)");
                    return ExitCodes.CannotRun;
                }
            }

            await output.WriteLineAsync($"{sent} deliveries sent to {endpoint}, {failed} not accepted"
                + (clocks == 0 ? "" : $" ({clocks} clock lines skipped: the server keeps its own time)"));
            return failed == 0 ? ExitCodes.Ok : ExitCodes.BadInput;
        }
    }

    /// <summary>The event and the body's exact bytes of one line; <paramref name="clock"/> for a <c>{"clock": …}</c> line of a <c>test</c> file.</summary>
    private static bool TryRead(string line, out string eventName, out byte[] body, out string problem, out bool clock)
    {
        (eventName, body, problem, clock) = ("", [], "", false);
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("clock", out _) && !document.RootElement.TryGetProperty("event", out _))
            {
                clock = true;
                return false;
            }

            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("event", out var name) || name.ValueKind != JsonValueKind.String
                || !document.RootElement.TryGetProperty("body", out var payload))
            {
                problem = """expected {"event": "<X-FreeScout-Event>", "body": {...}}""";
                return false;
            }

            eventName = name.GetString()!;
            body = Encoding.UTF8.GetBytes(payload.GetRawText());
            return true;
        }
        catch (JsonException ex)
        {
            problem = $"the line is not JSON: {ex.Message}";
            return false;
        }
    }
}
