using System.Text;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Tests.Support;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Tests.Parsing;

public sealed class DeliveryParserTests
{
    private readonly DeliveryParser _parser = new();

    public static TheoryData<string> WireFixtureNames() => [.. Fixtures.WireDeliveries().Select(d => d.Name)];

    [Theory]
    [MemberData(nameof(WireFixtureNames))]
    public void Parse_EveryWireFixture_IsValidWithThePayloadOfItsEvent(string name)
    {
        var (_, eventName, body) = Fixtures.WireDeliveries().Single(d => d.Name == name);

        var result = _parser.Parse(eventName, body);

        Assert.True(result.IsValid, result.Problem?.Message);
        Assert.Equal(eventName, result.Delivery.Event);
        Assert.Equal(!WebhookEvents.IsCustomerEvent(eventName), result.Delivery.IsConversationEvent);
        Assert.Equal(WebhookEvents.IsCustomerEvent(eventName), result.Delivery.Customer is not null);
    }

    [Fact]
    public void Parse_SendAndClose_ReadsEveryPartOfTheConversation()
    {
        var conversation = _parser.Parse("convo.status", Fixtures.Wire("convo.status.closed.on-reply")).Delivery!.Conversation!;

        Assert.Equal(1187, conversation.Id);
        Assert.Equal(1187, conversation.Number);
        Assert.Equal(ConversationStatus.Closed, conversation.Status);
        Assert.Equal(ConversationState.Published, conversation.State);
        Assert.Equal("Invoice #4521 – wrong amount", conversation.Subject);
        Assert.Equal(new DateTimeOffset(2025, 6, 2, 10, 26, 37, TimeSpan.Zero), conversation.UpdatedAt);
        Assert.Equal(2, conversation.ClosedBy);
        Assert.Equal("Anna", conversation.ClosedByUser!.FirstName);
        Assert.True(conversation.ClosedByUser.IsUser);
        Assert.Equal("María", conversation.Customer!.FirstName);
        Assert.Equal("Núñez", conversation.Customer.LastName);
        Assert.Equal("user", conversation.CustomerWaitingSince!.LatestReplyFrom);
        Assert.Equal(SourceType.Email, conversation.Source!.Type);
        Assert.Equal(1046, conversation.LatestThread!.Id);
        Assert.Equal(ThreadType.Message, conversation.LatestThread.Type);
        Assert.Equal(ConversationStatus.Closed, conversation.LatestThread.Status);
        Assert.Equal(["maria.nunez@example.net"], conversation.LatestThread.To);
        Assert.EndsWith("<div>Anna</div>", conversation.LatestThread.Body, StringComparison.Ordinal);
        Assert.True(conversation.Threads.Count >= 2);
    }

    [Fact]
    public void Parse_CustomFieldsAndTheirAbsence_AreKeptApart()
    {
        var withFields = Fixtures.Json("convo.created");
        withFields["customFields"] = new System.Text.Json.Nodes.JsonArray(
            new System.Text.Json.Nodes.JsonObject { ["id"] = 37, ["name"] = "Order", ["value"] = "A-1", ["text"] = "" });

        var present = _parser.Parse("convo.created", Encoding.UTF8.GetBytes(withFields.ToJsonString())).Delivery!.Conversation!;
        var absent = _parser.Parse("convo.moved", Fixtures.Wire("convo.moved")).Delivery!.Conversation!;

        Assert.Equal("A-1", Assert.Single(present.CustomFields!).Value);
        Assert.Null(absent.CustomFields);
    }

    [Fact]
    public void Parse_FullCustomer_ReadsSnakeCaseAndOptionalParts()
    {
        var customer = _parser.Parse("customer.updated", Fixtures.Wire("customer.updated")).Delivery!.Customer!;

        Assert.Equal(27, customer.Id);
        Assert.Equal(2, customer.Embedded!.Emails.Count);
        Assert.Empty(customer.Embedded.SocialProfiles);
        Assert.Equal("Valencia", customer.Embedded.Address!.City);
        Assert.Equal("Gold", Assert.Single(customer.CustomerFields!).Text);
    }

    [Fact]
    public void Parse_UnknownFieldsAndSpellings_AreKeptNotRefused()
    {
        var json = Fixtures.Json("convo.status.closed");
        json["status"] = "on-hold";
        json["type"] = "whatsapp";
        json["brandNewField"] = new System.Text.Json.Nodes.JsonObject { ["deep"] = new System.Text.Json.Nodes.JsonArray(1, 2) };

        var result = _parser.Parse("convo.status", Encoding.UTF8.GetBytes(json.ToJsonString()));

        Assert.True(result.IsValid, result.Problem?.Message);
        Assert.Equal("on-hold", result.Delivery.Conversation!.Status);
        Assert.False(ConversationStatus.IsKnown(result.Delivery.Conversation.Status));
        Assert.Equal("whatsapp", result.Delivery.Conversation.Type);
    }

    [Fact]
    public void Parse_NumbersAsStrings_AreAcceptedAsPhpSometimesSendsThem()
    {
        var json = Fixtures.Json("convo.status.closed");
        json["id"] = "1187";

        var result = _parser.Parse("convo.status", Encoding.UTF8.GetBytes(json.ToJsonString()));

        Assert.True(result.IsValid, result.Problem?.Message);
        Assert.Equal(1187, result.Delivery.Conversation!.Id);
    }

    [Fact]
    public void Parse_EmptyPhpArrayForAString_ReadsAsEmpty()
    {
        // FreeScout issue #2890: the module sent "subject": [] on convo.created (1.0.55).
        var json = System.Text.Json.Nodes.JsonNode.Parse(Fixtures.Wire("convo.created"))!.AsObject();
        json["subject"] = new System.Text.Json.Nodes.JsonArray();

        var result = _parser.Parse("convo.created", Encoding.UTF8.GetBytes(json.ToJsonString()));

        Assert.True(result.IsValid, result.Problem?.Message);
        Assert.Equal("", result.Delivery!.Conversation!.Subject);
    }

    [Fact]
    public void Parse_Spellings_AreTheSharedConstants_AndEscapedOrUnknownOnesAreReadAsTheyAre()
    {
        const string body = """
            {"id":1,"number":1,"status":"closed","state":"\u0070ublished","type":"carrier-pigeon","updatedAt":"2025-06-02T10:26:37Z",
             "cc":[],"bcc":["a@example.com",null,"b@example.com"]}
            """;

        var conversation = _parser.Parse("convo.status", Encoding.UTF8.GetBytes(body)).Delivery!.Conversation!;

        Assert.Same(ConversationStatus.Closed, conversation.Status);
        Assert.Equal(ConversationState.Published, conversation.State);
        Assert.Equal("carrier-pigeon", conversation.Type);
        Assert.Empty(conversation.Cc);
        Assert.Equal(["a@example.com", "b@example.com"], conversation.Bcc);
    }

    [Theory]
    [InlineData("", "MalformedJson", "The body is empty")]
    [InlineData("null", "MalformedJson", "JSON null")]
    [InlineData("{\"id\":1187,\"status\":\"closed\"", "MalformedJson", "malformed JSON")]
    [InlineData("<html>502</html>", "MalformedJson", "malformed JSON")]
    [InlineData("[1,2,3]", "MalformedJson", "wrong type")]
    [InlineData("{\"id\":\"abc\"}", "MalformedJson", "wrong type at $.id")]
    [InlineData("{\"id\":1,\"number\":1,\"status\":\"closed\",\"updatedAt\":\"yesterday\"}", "MalformedJson", "at $.updatedAt")]
    [InlineData("{\"id\":1,\"number\":1,\"status\":\"closed\",\"status\":\"active\",\"updatedAt\":\"2025-06-02T10:26:37Z\"}", "MalformedJson", "duplicate property")]
    [InlineData("{\"id\":1,\"_embedded\":{\"threads\":{}}}", "MalformedJson", "wrong type at $._embedded.threads")]
    [InlineData("{\"id\":1,\"status\":5}", "MalformedJson", "wrong type at $.status (line 1, byte 19): expected a string")]
    [InlineData("{\"id\":1,\"subject\":[\"Invoice\"]}", "MalformedJson", "wrong type at $.subject")]
    [InlineData("{\"id\":1,\"subject\":{}}", "MalformedJson", "wrong type at $.subject")]
    [InlineData("{\"id\":1,\"cc\":\"a@example.com\"}", "MalformedJson", "wrong type at $.cc (line 1, byte 29): expected an array")]
    [InlineData("{\"id\":1,\"cc\":[\"a@example.com\",7]}", "MalformedJson", "wrong type at $.cc (line 1, byte 32): expected an array")]
    [InlineData("{}", "Invalid", "id must be a positive integer")]
    [InlineData("{\"id\":1187,\"number\":1187}", "Invalid", "status is required; updatedAt is required")]
    [InlineData("{\"id\":1,\"number\":1,\"status\":\"closed\",\"updatedAt\":\"2025-06-02T10:26:37Z\",\"_embedded\":{\"threads\":[{\"id\":0,\"type\":\"message\"}]}}", "Invalid", "_embedded.threads[0].id must be a positive integer")]
    public void Parse_BadConversationBody_SaysExactlyWhatIsWrong(string body, string kindName, string expected)
    {
        var kind = Enum.Parse<DeliveryProblemKind>(kindName);
        var result = _parser.Parse("convo.status", Encoding.UTF8.GetBytes(body));

        Assert.False(result.IsValid);
        Assert.Equal(kind, result.Problem.Kind);
        Assert.Contains(expected, result.Problem.Message, StringComparison.Ordinal);
        Assert.StartsWith(kind == DeliveryProblemKind.MalformedJson && body.Length == 0 ? "The body" : "convo.status: ", result.Problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_HostileNesting_IsRefusedWithoutCrashing()
    {
        var body = "{\"id\":1,\"x\":" + new string('[', 10_000) + new string(']', 10_000) + "}";

        var result = _parser.Parse("convo.status", Encoding.UTF8.GetBytes(body));

        Assert.Equal(DeliveryProblemKind.MalformedJson, result.Problem!.Kind);
        Assert.Contains("nested too deeply", result.Problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BadCustomerBody_IsInvalid()
    {
        var result = _parser.Parse("customer.created", Encoding.UTF8.GetBytes("{\"firstName\":\"X\"}"));

        Assert.Equal(DeliveryProblemKind.Invalid, result.Problem!.Kind);
        Assert.Equal("customer.created: id must be a positive integer (got 0; a missing field reads as 0)", result.Problem.Message);
    }

    /// <summary>
    /// FreeScout signs the body, not the event name: every signed body of one kind re-posted under an event of the
    /// other kind is refused, saying so; bodies of the same kind under another event cannot be told apart (docs/deploy.md).
    /// </summary>
    [Theory]
    [MemberData(nameof(WireFixtureNames))]
    public void Parse_AWireBody_UnderAnEventOfTheOtherKind_IsRefusedAsTheWrongKind(string name)
    {
        var (_, eventName, body) = Fixtures.WireDeliveries().Single(d => d.Name == name);
        var customerEvent = eventName.StartsWith("customer.", StringComparison.Ordinal);

        foreach (var other in customerEvent ? new[] { "convo.note.created", "convo.status", "convo.created" } : ["customer.created", "customer.updated"])
        {
            var result = _parser.Parse(other, body);

            Assert.False(result.IsValid);
            Assert.Equal(DeliveryProblemKind.Invalid, result.Problem.Kind);
            Assert.StartsWith(
                customerEvent ? $"{other}: the body is not a conversation" : $"{other}: the body is a conversation (it has number and mailboxId), not a customer",
                result.Problem.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("convo.stauts")]
    [InlineData("CONVO.STATUS")]
    [InlineData("convo.merged")]
    [InlineData("")]
    [InlineData(null)]
    public void Parse_EventFreeScoutNeverSends_IsRefused(string? eventName)
    {
        var result = _parser.Parse(eventName, Fixtures.Wire("convo.status.closed"));

        Assert.Equal(DeliveryProblemKind.UnknownEvent, result.Problem!.Kind);
        Assert.Contains(eventName is { Length: > 0 } ? $"'{eventName}'" : "missing", result.Problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("timer.elapsed")]
    [InlineData("TIMER.Elapsed")]
    public void Parse_TheEventNameOfTimers_IsRefusedFromOutside_EvenWithCustomEventsOn(string eventName)
    {
        var parser = new DeliveryParser(new DeliveryParserOptions { AcceptCustomEvents = true });

        var result = parser.Parse(eventName, Fixtures.Wire("convo.status.closed"));

        Assert.Equal(DeliveryProblemKind.UnknownEvent, result.Problem!.Kind);
        Assert.Contains("reserved for the engine's own timers", result.Problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("reconciliation")]
    [InlineData("Reconciliation")]
    public void Parse_TheEventNameOfReconciledSnapshots_IsRefusedFromOutside_EvenWithCustomEventsOn(string eventName)
    {
        var parser = new DeliveryParser(new DeliveryParserOptions { AcceptCustomEvents = true });

        var result = parser.Parse(eventName, Fixtures.Wire("convo.status.closed"));

        Assert.Equal(DeliveryProblemKind.UnknownEvent, result.Problem!.Kind);
        Assert.Contains("reserved for snapshots the engine reads from FreeScout's REST API", result.Problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AReconciledSnapshot_IsAConversation_WhereStoredOnesAreRead()
    {
        var parser = new DeliveryParser(new DeliveryParserOptions { AcceptReconciled = true });

        var result = parser.Parse("reconciliation", Fixtures.Wire("convo.status.closed"));

        Assert.True(result.IsValid, result.Problem?.Message);
        Assert.Equal("closed", result.Delivery!.Conversation!.Status);
    }

    [Fact]
    public void Parse_AConversationAsTheApiListsIt_WithAThreadCountAndNoThreads_IsValid()
    {
        // GET /api/conversations documents "threads": <count> where a webhook has "threadsCount", and embeds no threads.
        var json = System.Text.Json.Nodes.JsonNode.Parse(Fixtures.Wire("convo.status.closed"))!.AsObject();
        json.Remove("threadsCount");
        json["threads"] = 2;
        json["_embedded"] = new System.Text.Json.Nodes.JsonObject { ["threads"] = new System.Text.Json.Nodes.JsonArray() };
        var parser = new DeliveryParser(new DeliveryParserOptions { AcceptReconciled = true });

        var result = parser.Parse("reconciliation", System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()));

        Assert.True(result.IsValid, result.Problem?.Message);
        Assert.Null(result.Delivery!.Conversation!.LatestThread);
    }

    [Fact]
    public void Parse_CustomWorkflowsEvent_IsAConversationWhenSwitchedOn()
    {
        var parser = new DeliveryParser(new DeliveryParserOptions { AcceptCustomEvents = true });

        var result = parser.Parse("custom.webhook.event", Fixtures.Wire("convo.status.closed"));

        Assert.True(result.IsValid, result.Problem?.Message);
        Assert.Equal(1187, result.Delivery.Conversation!.Id);
    }
}
