namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>
/// A conversation as FreeScout's <c>formatEntity(Conversation)</c> emits it (docs: freescout-webhooks.md §3.1), keys in its
/// order, <c>_embedded.threads</c> always empty (the list API's <c>without_threads</c>), <c>customFields</c> after
/// <c>_embedded</c> and only when the conversation has some.
/// </summary>
internal static class ConversationJson
{
    /// <summary>The user who closes conversations and who makes the stand-in's agent-side changes.</summary>
    public const int AgentId = 5;

    public static byte[] Encode(StandInConversation c)
    {
        var json = new PhpJsonWriter();
        Write(json, c);
        return json.ToUtf8();
    }

    public static void Write(PhpJsonWriter json, StandInConversation c)
    {
        var closed = c.Status == "closed";
        var createdAt = c.CreatedAt ?? c.UpdatedAt;
        json.StartObject();
        json.Property("id", c.Id);
        json.Property("number", c.Number);
        json.Property("threadsCount", c.ThreadsCount);
        json.Property("type", c.Type);
        json.Property("folderId", c.FolderId ?? FolderOf(c));
        json.Property("status", c.Status);
        json.Property("state", c.State);
        json.Property("subject", c.Subject);
        json.Property("preview", c.Preview);
        json.Property("mailboxId", c.MailboxId);
        json.Name("assignee");
        if (c.AssigneeId is { } assignee)
        {
            User(json, assignee);
        }
        else
        {
            json.String(null);
        }

        json.Name("createdBy");
        Customer(json, c);
        json.DateProperty("createdAt", createdAt);
        json.DateProperty("updatedAt", c.UpdatedAt);
        json.Property("closedBy", closed ? AgentId : null);
        json.Name("closedByUser");
        if (closed)
        {
            User(json, AgentId);
        }
        else
        {
            json.String(null);
        }

        json.DateProperty("closedAt", c.ClosedAt ?? (closed ? c.UpdatedAt : null));
        json.DateProperty("userUpdatedAt", c.UserUpdatedAt);
        json.Name("customerWaitingSince");
        json.StartObject();
        json.DateProperty("time", createdAt);
        json.Property("friendly", Friendly(c.UpdatedAt - createdAt));
        json.Property("latestReplyFrom", "customer");
        json.EndObject();
        json.Name("source");
        json.StartObject();
        json.Property("type", "email");
        json.Property("via", "customer");
        json.EndObject();
        json.Name("cc");
        json.StartArray();
        json.EndArray();
        json.Name("bcc");
        json.StartArray();
        json.EndArray();
        json.Name("customer");
        Customer(json, c);
        json.Name("_embedded");
        json.StartObject();
        json.Name("threads");
        json.StartArray();
        json.EndArray();
        json.EndObject();
        if (c.CustomFields is { } fields)
        {
            json.Name("customFields");
            json.StartArray();
            foreach (var field in fields)
            {
                json.StartObject();
                json.Property("id", field.Id);
                json.Property("name", field.Name);
                json.Property("value", field.Value);
                json.Property("text", field.Text);
                json.EndObject();
            }

            json.EndArray();
        }

        json.EndObject();
    }

    private static int FolderOf(StandInConversation c) => (c.State, c.Status) switch
    {
        ("deleted", _) => 6,
        ("draft", _) => 2,
        (_, "spam") => 5,
        (_, "closed") => 4,
        _ => c.AssigneeId is null ? 1 : 3,
    };

    // FreeScout's text is localised and relative to the time of the request; the stand-in's is relative to
    // updatedAt, so that a conversation's JSON stays the same until it changes.
    private static string Friendly(TimeSpan waited) => waited switch
    {
        { TotalMinutes: < 1 } => "Just now",
        { TotalHours: < 1 } => Ago((int)waited.TotalMinutes, "minute"),
        { TotalDays: < 1 } => Ago((int)waited.TotalHours, "hour"),
        _ => Ago((int)waited.TotalDays, "day"),
    };

    private static string Ago(int count, string unit) => count == 1 ? $"1 {unit} ago" : $"{count} {unit}s ago";

    private static void User(PhpJsonWriter json, int id)
    {
        json.StartObject();
        json.Property("id", id);
        json.Property("type", "user");
        json.Property("firstName", id == AgentId ? "Agent" : "User");
        json.Property("lastName", id == AgentId ? "Smith" : id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        json.Property("photoUrl", "");
        json.Property("email", id == AgentId ? "agent.smith@example.com" : $"user{id}@example.com");
        json.EndObject();
    }

    private static void Customer(PhpJsonWriter json, StandInConversation c)
    {
        json.StartObject();
        json.Property("id", c.CustomerId ?? 100_000 + c.Id);
        json.Property("type", "customer");
        json.Property("firstName", "Customer");
        json.Property("lastName", c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        json.Property("photoUrl", "");
        json.Property("email", c.CustomerEmail ?? $"customer{c.Id}@example.com");
        json.EndObject();
    }
}
