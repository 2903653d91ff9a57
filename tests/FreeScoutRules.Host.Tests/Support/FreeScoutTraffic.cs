using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>One webhook as FreeScout sends it: its event and exact bytes, signed with the fixtures' secret.</summary>
/// <param name="ConversationId">Its conversation.</param>
/// <param name="Event">X-FreeScout-Event.</param>
/// <param name="Body">The exact bytes.</param>
/// <param name="Signature">X-FreeScout-Signature.</param>
/// <param name="Redelivery">The same bytes as an earlier delivery of its conversation (FreeScout retrying one it thinks failed): a duplicate.</param>
internal sealed record TrafficDelivery(int ConversationId, string Event, byte[] Body, string Signature, bool Redelivery)
{
    /// <summary>The line of a <c>freescout-rules test</c> events file with this delivery.</summary>
    public string JsonLine() => new JsonObject { ["event"] = Event, ["body"] = JsonNode.Parse(Body) }.ToJsonString();
}

/// <summary>
/// Simulated FreeScout traffic from the signed wire fixtures (tests/fixtures/freescout, made by
/// ../shared/tools/gen_fixtures.py), conversation by conversation, in the order FreeScout sends each conversation's
/// webhooks: created; closed through <c>convo.status</c> and the Send &amp; Close reply (both orders), or through the
/// reply alone; a redelivery of bytes sent before; a customer reply that reopens; a late, stale delivery (older than
/// the reopen: reordered); for some, closed again, or silently made pending by an agent reply. What the status rules
/// derive from it is docs/status-change.md's to say: a test runs the same deliveries through <c>freescout-rules test</c>.
/// </summary>
internal static class FreeScoutTraffic
{
    private static readonly DateTimeOffset Start = new(2026, 3, 2, 8, 0, 0, TimeSpan.Zero);

    /// <summary>The deliveries of <paramref name="conversations"/> conversations numbered from <paramref name="firstId"/>, per conversation in sending order.</summary>
    public static IReadOnlyList<IReadOnlyList<TrafficDelivery>> Generate(int conversations, int firstId)
    {
        var all = new List<IReadOnlyList<TrafficDelivery>>();
        for (var i = 0; i < conversations; i++)
        {
            all.Add(Conversation(firstId + i, i));
        }

        return all;
    }

    /// <summary>One delivery of conversation <paramref name="id"/> from the wire fixture <paramref name="fixture"/>, with this status and time.</summary>
    public static TrafficDelivery One(string fixture, int id, string status, DateTimeOffset updatedAt)
    {
        var (eventName, body) = Body(fixture, id, status, updatedAt, null);
        return new TrafficDelivery(id, eventName, body, SignedDeliveries.Sign(body), Redelivery: false);
    }

    private static List<TrafficDelivery> Conversation(int id, int i)
    {
        var t0 = Start.AddHours(i);
        var list = new List<TrafficDelivery>();
        void Add(string fixture, string status, DateTimeOffset updatedAt, Action<JsonObject>? change = null)
        {
            var (eventName, body) = Body(fixture, id, status, updatedAt, change);
            list.Add(new TrafficDelivery(id, eventName, body, SignedDeliveries.Sign(body), Redelivery: false));
        }

        void Redeliver(int index) => list.Add(list[index] with { Redelivery = true });

        Add("convo.created", "active", t0.AddSeconds(1));
        var closedAt = t0.AddMinutes(30);
        switch (i % 3)
        {
            case 0: // Send & Close since module 1.0.82: convo.status first, the reply about 15 s later (same updatedAt)
                Add("convo.status.closed", "closed", closedAt);
                Add("convo.agent.reply.created.closed", "closed", closedAt);
                break;
            case 1: // before 1.0.82: the reply carrying the closed state is the only report
                Add("convo.agent.reply.created.closed", "closed", closedAt);
                break;
            default: // reordered: the reply first, convo.status after it
                Add("convo.agent.reply.created.closed", "closed", closedAt);
                Add("convo.status.closed", "closed", closedAt);
                break;
        }

        Redeliver(list.Count - 1); // FreeScout retries a delivery whose answer it did not get: the same bytes
        var reopenedAt = t0.AddHours(2);
        Add("convo.customer.reply.created.reopened", "active", reopenedAt);
        // A note made before the reopen, delivered after it (reordered): stale, derives nothing.
        Add("convo.note.created", "closed", closedAt.AddMinutes(5));
        switch (i % 4)
        {
            case 0:
                Add("convo.status.closed", "closed", reopenedAt.AddMinutes(20), c => c["closedAt"] = Time(reopenedAt.AddMinutes(20)));
                break;
            case 1: // an agent reply without a status: silently pending
                Add("convo.agent.reply.created", "pending", reopenedAt.AddMinutes(20));
                break;
            case 2:
                Redeliver(0);
                break;
        }

        return list;
    }

    private static (string Event, byte[] Body) Body(string fixture, int id, string status, DateTimeOffset updatedAt, Action<JsonObject>? change)
    {
        var (eventName, template, _) = SignedDeliveries.Get(fixture);
        var json = JsonNode.Parse(template)!.AsObject();
        json["id"] = id;
        json["number"] = id;
        json["status"] = status;
        json["updatedAt"] = Time(updatedAt);
        change?.Invoke(json);
        return (eventName, Encoding.UTF8.GetBytes(json.ToJsonString()));
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
