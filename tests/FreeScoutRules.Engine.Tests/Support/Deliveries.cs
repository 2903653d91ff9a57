using System.Text;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>
/// Builds deliveries for rule scenarios from a real fixture body, changing only what a scenario is
/// about (conversation, status, time, newest thread's status), and parses them the way the engine does.
/// </summary>
internal static class Deliveries
{
    public static readonly DateTimeOffset T0 = new(2025, 6, 2, 10, 0, 0, TimeSpan.Zero);

    private static int _sequence;

    /// <summary>A delivery of <paramref name="eventName"/> whose snapshot says <paramref name="status"/> at T0 + <paramref name="seconds"/>.</summary>
    public static Delivery Of(
        string eventName, string status, int seconds, int conversationId = 1187, string? newestThreadStatus = null,
        string newestThreadType = ThreadType.Message, bool noThreads = false)
    {
        var body = Body(status, seconds, conversationId, newestThreadStatus, newestThreadType, noThreads);
        var result = new DeliveryParser().Parse(eventName, body);
        Assert.True(result.IsValid, result.Problem?.Message);
        return new Delivery($"test:{Interlocked.Increment(ref _sequence)}", eventName, T0, result.Delivery.Conversation!);
    }

    /// <summary>The body (wire bytes) of <see cref="Of"/>'s delivery.</summary>
    public static byte[] Body(
        string status, int seconds, int conversationId = 1187, string? newestThreadStatus = null,
        string newestThreadType = ThreadType.Message, bool noThreads = false)
    {
        var json = Fixtures.Json("convo.status.closed.on-reply");
        json["id"] = conversationId;
        json["number"] = conversationId + 10_000;
        json["status"] = status;
        json["updatedAt"] = (T0 + TimeSpan.FromSeconds(seconds)).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var threads = json["_embedded"]!["threads"]!.AsArray();
        if (noThreads)
        {
            threads.Clear();
        }
        else
        {
            threads[0]!["status"] = newestThreadStatus ?? status;
            threads[0]!["type"] = newestThreadType;
        }

        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }
}
