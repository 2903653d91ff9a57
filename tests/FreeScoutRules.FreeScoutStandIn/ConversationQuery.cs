using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>The order of a conversation list: <c>sortField</c> (<c>createdAt</c> when absent or unknown) and <c>sortOrder</c> (<c>desc</c> unless <c>asc</c>).</summary>
internal readonly record struct ConversationOrder(string Field, bool Descending)
{
    public static readonly IReadOnlyList<string> Fields = ["createdAt", "updatedAt", "number", "mailboxId", "subject", "waitingSince"];

    /// <summary>Compares by the field, then by id ascending in either order (FreeScout leaves ties to the database).</summary>
    public int Compare(StandInConversation x, StandInConversation y)
    {
        var byField = Field switch
        {
            "updatedAt" => x.UpdatedAt.CompareTo(y.UpdatedAt),
            "number" => x.Number.CompareTo(y.Number),
            "mailboxId" => x.MailboxId.CompareTo(y.MailboxId),
            "subject" => string.Compare(x.Subject, y.Subject, StringComparison.OrdinalIgnoreCase),
            _ => Nullable.Compare(x.CreatedAt, y.CreatedAt), // createdAt and waitingSince (the last reply is the creation here)
        };
        return byField != 0 ? (Descending ? -byField : byField) : x.Id.CompareTo(y.Id);
    }
}

/// <summary>
/// The query parameters of <c>GET /api/conversations</c> that the stand-in honours, read as ApiController::listConversations
/// (v1.0.87) reads them: unknown values of <c>status</c>, <c>state</c> and <c>sortField</c> filter or sort by nothing
/// rather than fail, <c>updatedSince</c>/<c>createdSince</c> are inclusive.
/// </summary>
internal sealed class ConversationQuery
{
    public const int DefaultPageSize = 50;

    public required ConversationOrder Order { get; init; }

    /// <summary>1-based.</summary>
    public int Page { get; init; } = 1;

    public int PageSize { get; init; } = DefaultPageSize;

    public IReadOnlySet<string>? Statuses { get; init; }

    public string? State { get; init; }

    public IReadOnlySet<int>? MailboxIds { get; init; }

    public int? Number { get; init; }

    public DateTimeOffset? UpdatedSince { get; init; }

    public DateTimeOffset? CreatedSince { get; init; }

    public bool Matches(StandInConversation c) =>
        (Statuses is null || Statuses.Contains(c.Status))
        && (State is null || State == c.State)
        && (MailboxIds is null || MailboxIds.Contains(c.MailboxId))
        && (Number is null || Number == c.Number)
        && (UpdatedSince is null || c.UpdatedAt >= UpdatedSince)
        && (CreatedSince is null || c.CreatedAt >= CreatedSince);

    /// <summary>Reads the query; <paramref name="error"/> says which parameter could not be read (a date that is not one).</summary>
    public static ConversationQuery? Parse(IQueryCollection query, out string? error)
    {
        error = null;
        var field = query["sortField"].ToString();
        var order = new ConversationOrder(
            ConversationOrder.Fields.Contains(field) ? field : "createdAt",
            query["sortOrder"].ToString() != "asc");
        if (!TryDate(query, "updatedSince", out var updatedSince, ref error) | !TryDate(query, "createdSince", out var createdSince, ref error))
        {
            return null;
        }

        var statuses = Split(query["status"]).Where(StandInConversation.Statuses.Contains).ToHashSet();
        var state = query["state"].ToString();
        var mailboxes = Split(query["mailboxId"]).Select(Int).OfType<int>().ToHashSet();
        return new ConversationQuery
        {
            Order = order,
            Page = Int(query["page"]) is > 0 and var page ? page : 1,
            PageSize = Int(query["pageSize"]) is > 0 and var size ? size : DefaultPageSize,
            Statuses = statuses.Count > 0 ? statuses : null,
            State = StandInConversation.States.Contains(state) ? state : null,
            MailboxIds = mailboxes.Count > 0 ? mailboxes : null,
            Number = Int(query["number"]),
            UpdatedSince = updatedSince,
            CreatedSince = createdSince,
        };
    }

    private static string[] Split(string? value) =>
        (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int? Int(string? value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;

    private static bool TryDate(IQueryCollection query, string name, out DateTimeOffset? value, ref string? error)
    {
        value = null;
        var text = query[name].ToString();
        if (text.Length == 0)
        {
            return true;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            error = $"{name} is not a date: {text}";
            return false;
        }

        // The database compares whole seconds.
        value = FreeScoutStandIn.ToWholeSeconds(parsed);
        return true;
    }
}
