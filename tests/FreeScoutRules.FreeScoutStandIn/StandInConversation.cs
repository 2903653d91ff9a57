namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>
/// A conversation as the stand-in keeps it: the columns that <c>formatEntity(Conversation)</c> reads, with deterministic
/// defaults for the rest. Times are stored in UTC truncated to whole seconds (FreeScoutStandIn.Put normalises them), as
/// FreeScout's database keeps them.
/// </summary>
/// <param name="Id">Internal id (URL <c>/conversation/{id}</c>), positive.</param>
/// <param name="Number">Ticket number shown in the UI.</param>
/// <param name="Status"><c>active</c>, <c>pending</c>, <c>closed</c> or <c>spam</c>.</param>
/// <param name="UpdatedAt">The <c>updated_at</c> column that <c>updatedSince</c> filters on.</param>
/// <param name="State"><c>draft</c>, <c>published</c> or <c>deleted</c>.</param>
/// <param name="Subject">Subject line.</param>
/// <param name="MailboxId">Mailbox id.</param>
/// <param name="CreatedAt">Creation time; <see langword="null"/>: <paramref name="UpdatedAt"/> when stored. Also the last reply time (<c>customerWaitingSince.time</c>, <c>sortField=waitingSince</c>).</param>
/// <param name="Type"><c>email</c>, <c>phone</c>, <c>chat</c> or <c>custom</c>.</param>
/// <param name="FolderId">Folder id; <see langword="null"/>: derived from state, status and assignee (1 unassigned, 2 drafts, 3 assigned, 4 closed, 5 spam, 6 deleted; stand-in numbering, not FreeScout's).</param>
/// <param name="AssigneeId">Assigned user id; <see langword="null"/>: unassigned. User 5 is "Agent Smith", any other id "User {id}".</param>
/// <param name="CustomerId">Customer id; <see langword="null"/>: 100000 + <paramref name="Id"/>.</param>
/// <param name="CustomerEmail">Customer e-mail; <see langword="null"/>: <c>customer{Id}@example.com</c>.</param>
/// <param name="Preview">Plain-text preview of the latest message.</param>
/// <param name="ThreadsCount">The <c>threadsCount</c> field (threads themselves are never embedded).</param>
/// <param name="ClosedAt">When it was last closed; <see langword="null"/> on a closed conversation: <paramref name="UpdatedAt"/>. Kept when it is reopened, as FreeScout does.</param>
/// <param name="UserUpdatedAt">Last agent-side change; <see cref="FreeScoutStandIn.Touch"/> sets it.</param>
/// <param name="CustomFields">Custom field values; <see langword="null"/>: no <c>customFields</c> key (the Custom Fields module is off).</param>
public sealed record StandInConversation(
    int Id,
    int Number,
    string Status,
    DateTimeOffset UpdatedAt,
    string State = "published",
    string Subject = "Subject",
    int MailboxId = 1,
    DateTimeOffset? CreatedAt = null,
    string Type = "email",
    int? FolderId = null,
    int? AssigneeId = null,
    int? CustomerId = null,
    string? CustomerEmail = null,
    string Preview = "Preview",
    int ThreadsCount = 1,
    DateTimeOffset? ClosedAt = null,
    DateTimeOffset? UserUpdatedAt = null,
    IReadOnlyList<StandInCustomField>? CustomFields = null)
{
    /// <summary>The statuses FreeScout serialises, in the order <see cref="FreeScoutStandIn.Generate"/> and <c>/_standin/touch</c> cycle through the first three.</summary>
    public static IReadOnlyList<string> Statuses { get; } = ["active", "pending", "closed", "spam"];

    /// <summary>The conversation states FreeScout serialises.</summary>
    public static IReadOnlyList<string> States { get; } = ["draft", "published", "deleted"];
}
