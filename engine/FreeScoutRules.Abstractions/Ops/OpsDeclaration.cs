using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using FreeScoutRules.Actions;
using FreeScoutRules.Facts;
using FreeScoutRules.FreeScout;
using NRules.Fluent.Dsl;
using NRules.RuleModel;

namespace FreeScoutRules.Ops;

/// <summary>
/// What a concise rule (<see cref="OpsRule"/>) reacts to, on which conditions, and what it does, as <c>On.…</c> and
/// the calls after it declare it. Immutable: every call returns a new declaration, so one can be shared as the start
/// of several rules.
/// </summary>
public abstract class OpsDeclaration
{
    private protected OpsDeclaration(string trigger) => Trigger = trigger;

    /// <summary>How the declaration reads so far (<c>On.Close().Post("…", c =&gt; …)</c>).</summary>
    private protected string Trigger { get; private set; }

    internal ImmutableArray<ConciseAction> Actions { get; private set; } = [];

    internal ImmutableArray<AuthorCondition> Conditions { get; private set; } = [];

    /// <summary>Conditions on the conversation's snapshot (mailbox, assignee), mapped onto each trigger's facts.</summary>
    internal ImmutableArray<Expression<Func<Conversation, bool>>> ConversationConditions { get; private set; } = [];

    /// <summary>Adds the rule's conditions and actions to the NRules rule being defined.</summary>
    internal abstract void Define(ILeftHandSideExpression when, IRightHandSideExpression then);

    public override string ToString() => Trigger;

    private protected T With<T>(string call, ConciseAction? action = null, AuthorCondition? condition = null, Expression<Func<Conversation, bool>>? conversation = null)
        where T : OpsDeclaration
    {
        var copy = (T)MemberwiseClone();
        copy.Trigger = $"{Trigger}.{call}";
        if (action is not null)
        {
            copy.Actions = Actions.Add(action);
        }

        if (condition is not null)
        {
            copy.Conditions = Conditions.Add(condition);
        }

        if (conversation is not null)
        {
            copy.ConversationConditions = ConversationConditions.Add(Inline(conversation));
        }

        return copy;
    }

    private protected static Expression<Action<IContext>> ActionOn(ConciseAction action, string symbol, System.Reflection.MethodInfo run)
    {
        var context = Expression.Parameter(typeof(IContext), "ctx");
        return Expression.Lambda<Action<IContext>>(Expression.Call(Expression.Constant(action), run, context, Symbols.Of(symbol)), context);
    }

    /// <summary><paramref name="condition"/> of a conversation, applied to <paramref name="conversation"/>.</summary>
    private protected static Expression On(Expression<Func<Conversation, bool>> condition, Expression conversation) =>
        new Replace(condition.Parameters[0], conversation).Visit(condition.Body);

    /// <summary><c>x.Member == a || x.Member == b …</c> over a fact of the pattern.</summary>
    private protected static Expression<Func<TFact, bool>> AnyOf<TFact>(string member, IReadOnlyList<string> values, bool negate = false)
    {
        var fact = Expression.Parameter(typeof(TFact), "x");
        var property = Expression.Property(fact, member);
        Expression? test = null;
        foreach (var value in values)
        {
            Expression one = negate ? Expression.NotEqual(property, Expression.Constant(value)) : Expression.Equal(property, Expression.Constant(value));
            test = test is null ? one : negate ? Expression.AndAlso(test, one) : Expression.OrElse(test, one);
        }

        return Expression.Lambda<Func<TFact, bool>>(test!, fact);
    }

    private protected static string[] Checked(string what, string[] values, int maxLength = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length == 0)
        {
            throw new ArgumentException($"Name at least one {what}.", what);
        }

        foreach (var value in values)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value, what);
            if (value.Length > maxLength)
            {
                throw new ArgumentException($"A {what} has at most {maxLength} characters: '{value}'.", what);
            }
        }

        return values;
    }

    private protected static string List(IEnumerable<string> values) => string.Join(", ", values.Select(SourceText.Quote));

    /// <summary>
    /// <paramref name="condition"/> with the values it captured (<c>c =&gt; c.To == to</c>) as constants: a condition reads
    /// <c>change.To == "closed"</c> in <c>explain</c>, as a rule in NRules' DSL compiles, and rules share its node.
    /// </summary>
    internal static Expression<Func<T, bool>> Inline<T>(Expression<Func<T, bool>> condition) => (Expression<Func<T, bool>>)new Captured().Visit(condition);

    private sealed class Captured : ExpressionVisitor
    {
        protected override Expression VisitMember(MemberExpression node) =>
            node is { Expression: ConstantExpression { Value: { } closure }, Member: System.Reflection.FieldInfo field }
                ? Expression.Constant(field.GetValue(closure), node.Type)
                : base.VisitMember(node);
    }

    private sealed class Replace(ParameterExpression parameter, Expression by) : ExpressionVisitor
    {
        protected override Expression VisitParameter(ParameterExpression node) => node == parameter ? by : base.VisitParameter(node);
    }
}

/// <summary>
/// The conditions and actions every concise declaration has. <typeparamref name="TSelf"/> is the declaration's own
/// type, so that the calls chain: <c>On.Timer("survey").WhenStatus(Closed).Post(…).Cancel(…)</c>. Actions run in the
/// order they are declared, each when the rule fires.
/// </summary>
[SuppressMessage("Design", "CA1054:URI-like parameters should not be strings", Justification = "The http action takes the URL as text, which may hold a secret reference.")]
public abstract class OpsDeclaration<TSelf> : OpsDeclaration
    where TSelf : OpsDeclaration<TSelf>
{
    private protected OpsDeclaration(string trigger)
        : base(trigger)
    {
    }

    /// <summary>
    /// Only when <paramref name="condition"/> holds: any C# over the <see cref="Occasion"/> (<c>c.Conversation</c>,
    /// <c>c.Timer</c>, <c>c.Change</c>…), run as the rule's condition. A condition that throws counts as not holding, and
    /// is reported as the rule's failure.
    /// </summary>
    public TSelf Where(Func<Occasion, bool> condition, [CallerArgumentExpression(nameof(condition))] string? text = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var source = SourceText.Of(text, "condition");
        return With<TSelf>($"Where({source})", condition: new AuthorCondition(condition, source));
    }

    /// <summary>Only for conversations in one of these mailboxes.</summary>
    public TSelf InMailbox(params int[] mailboxIds)
    {
        ArgumentNullException.ThrowIfNull(mailboxIds);
        if (mailboxIds.Length == 0)
        {
            throw new ArgumentException("Name at least one mailbox.", nameof(mailboxIds));
        }

        var conversation = Expression.Parameter(typeof(Conversation), "conversation");
        var mailbox = Expression.Property(conversation, nameof(Conversation.MailboxId));
        var test = mailboxIds.Select(id => (Expression)Expression.Equal(mailbox, Expression.Constant(id))).Aggregate(Expression.OrElse);
        return With<TSelf>(
            $"InMailbox({string.Join(", ", mailboxIds.Select(i => i.ToString(CultureInfo.InvariantCulture)))})",
            conversation: Expression.Lambda<Func<Conversation, bool>>(test, conversation));
    }

    /// <summary>Only for conversations assigned to someone (to <paramref name="userId"/> when given).</summary>
    public TSelf Assigned(int? userId = null) => userId is { } id
        ? With<TSelf>($"Assigned({id.ToString(CultureInfo.InvariantCulture)})", conversation: c => c.Assignee != null && c.Assignee.Id == id)
        : With<TSelf>("Assigned()", conversation: c => c.Assignee != null);

    /// <summary>Only for conversations assigned to nobody.</summary>
    public TSelf Unassigned() => With<TSelf>("Unassigned()", conversation: c => c.Assignee == null);

    /// <summary>
    /// POSTs JSON to <paramref name="url"/> (the built-in <c>http</c> action, with its retries): the object
    /// <paramref name="body"/> returns (an anonymous object, a dictionary, any C#), and <paramref name="headers"/>.
    /// </summary>
    /// <example><code>.Post("https://hooks.example.com/support", c => new { text = $"#{c.Number} closed" })</code></example>
    public TSelf Post(string url, Func<Occasion, object?> body, IReadOnlyDictionary<string, string>? headers = null, [CallerArgumentExpression(nameof(body))] string? text = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        ArgumentNullException.ThrowIfNull(body);
        var source = $"Post({SourceText.Quote(url)}, {SourceText.Of(text, "body")})";
        var fixedHeaders = headers?.ToDictionary();
        return With<TSelf>(source, action: new EnqueueAction("http", c => HttpArguments(url, fixedHeaders, body(c)), source));
    }

    /// <summary>POSTs <paramref name="body"/> (the same each time; none when <c>null</c>) as JSON to <paramref name="url"/>.</summary>
    public TSelf Post(string url, object? body = null, IReadOnlyDictionary<string, string>? headers = null, [CallerArgumentExpression(nameof(body))] string? text = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        var source = body is null ? $"Post({SourceText.Quote(url)})" : $"Post({SourceText.Quote(url)}, {SourceText.Of(text, "body")})";
        var fixedHeaders = headers?.ToDictionary();
        return With<TSelf>(source, action: new EnqueueAction("http", _ => HttpArguments(url, fixedHeaders, body), source));
    }

    /// <summary>Records an intent of the action <paramref name="action"/> (any plugin's) with the arguments <paramref name="arguments"/> returns.</summary>
    public TSelf Do(string action, Func<Occasion, object?> arguments, [CallerArgumentExpression(nameof(arguments))] string? text = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        ArgumentNullException.ThrowIfNull(arguments);
        var source = $"Do({SourceText.Quote(action)}, {SourceText.Of(text, "arguments")})";
        return With<TSelf>(source, action: new EnqueueAction(action, arguments, source));
    }

    /// <summary>Records an intent of the action <paramref name="action"/> (any plugin's) with fixed arguments (none when <c>null</c>).</summary>
    public TSelf Do(string action, object? arguments = null, [CallerArgumentExpression(nameof(arguments))] string? text = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        var source = arguments is null ? $"Do({SourceText.Quote(action)})" : $"Do({SourceText.Quote(action)}, {SourceText.Of(text, "arguments")})";
        return With<TSelf>(source, action: new EnqueueAction(action, _ => arguments, source));
    }

    /// <summary>Adds a note to the conversation in FreeScout (the built-in <c>freescout</c> action, as the bot user).</summary>
    public TSelf Note(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        return FreeScoutText("note", $"Note({SourceText.Quote(text)})", _ => text);
    }

    /// <summary>Adds a note that <paramref name="text"/> writes, to the conversation in FreeScout.</summary>
    public TSelf Note(Func<Occasion, string> text, [CallerArgumentExpression(nameof(text))] string? source = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return FreeScoutText("note", $"Note({SourceText.Of(source, "text")})", text);
    }

    /// <summary>Replies to the customer in FreeScout (the built-in <c>freescout</c> action, as the bot user).</summary>
    public TSelf Reply(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        return FreeScoutText("reply", $"Reply({SourceText.Quote(text)})", _ => text);
    }

    /// <summary>Replies to the customer in FreeScout with what <paramref name="text"/> writes.</summary>
    public TSelf Reply(Func<Occasion, string> text, [CallerArgumentExpression(nameof(text))] string? source = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return FreeScoutText("reply", $"Reply({SourceText.Of(source, "text")})", text);
    }

    /// <summary>Sets the conversation's status in FreeScout (the built-in <c>freescout</c> action, as the bot user).</summary>
    public TSelf SetStatus(string status)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(status);
        var source = $"SetStatus({SourceText.Quote(status)})";
        return With<TSelf>(source, action: new EnqueueAction("freescout", c => FreeScoutArguments("status", c, ("status", status)), source));
    }

    /// <summary>Replaces the conversation's tags in FreeScout with <paramref name="tags"/> (FreeScout's API sets the whole list).</summary>
    public TSelf SetTags(params string[] tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        string[] copy = [.. tags];
        var source = $"SetTags({List(copy)})";
        return With<TSelf>(source, action: new EnqueueAction("freescout", c => FreeScoutArguments("tags", c, ("tags", copy)), source));
    }

    /// <summary>Assigns the conversation to the user <paramref name="userId"/> in FreeScout (-1 unassigns it).</summary>
    public TSelf Assign(int userId)
    {
        var source = $"Assign({userId.ToString(CultureInfo.InvariantCulture)})";
        return With<TSelf>(source, action: new EnqueueAction("freescout", c => FreeScoutArguments("assign", c, ("userId", userId)), source));
    }

    /// <summary>
    /// Any operation of the built-in <c>freescout</c> action (<c>custom-fields</c>…) on the conversation: its arguments
    /// are <c>operation</c>, <c>conversationId</c> and the properties of what <paramref name="arguments"/> returns.
    /// </summary>
    public TSelf FreeScout(string operation, Func<Occasion, object?> arguments, [CallerArgumentExpression(nameof(arguments))] string? text = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(operation);
        ArgumentNullException.ThrowIfNull(arguments);
        var source = $"FreeScout({SourceText.Quote(operation)}, {SourceText.Of(text, "arguments")})";
        return With<TSelf>(source, action: new EnqueueAction("freescout", c =>
        {
            var result = FreeScoutArguments(operation, c);
            foreach (var (name, value) in ArgumentsJson.From(arguments(c)))
            {
                result[name] = value;
            }

            return result;
        }, source));
    }

    /// <summary>
    /// Schedules the timer <paramref name="timer"/> of the conversation, due after the time given (in opening hours of the
    /// calendar <paramref name="businessHours"/>, <c>Calendars:NAME</c>, when given), counted from the evaluation's clock;
    /// scheduling it again replaces it. A rule <c>On.Timer(name)</c> handles it when it is due.
    /// </summary>
    /// <example><code>.Schedule("survey", hours: 24)</code>, <code>.Schedule("first-response", hours: 4, businessHours: "support")</code></example>
    public TSelf Schedule(string timer, double days = 0, double hours = 0, double minutes = 0, string? businessHours = null) =>
        Schedule(timer, TimeSpan.FromDays(days) + TimeSpan.FromHours(hours) + TimeSpan.FromMinutes(minutes), businessHours);

    /// <summary>Schedules the timer <paramref name="timer"/> of the conversation, due <paramref name="after"/> (of business hours when <paramref name="businessHours"/> names a calendar).</summary>
    public TSelf Schedule(string timer, TimeSpan after, string? businessHours = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(timer);
        if (timer.Length > TimerChange.MaxNameLength)
        {
            throw new ArgumentException($"A timer's name has at most {TimerChange.MaxNameLength} characters.", nameof(timer));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(after, TimeSpan.Zero);
        if (businessHours is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(businessHours);
        }

        var source = businessHours is null
            ? $"Schedule({SourceText.Quote(timer)}, after {after.ToString("c", CultureInfo.InvariantCulture)})"
            : $"Schedule({SourceText.Quote(timer)}, after {after.ToString("c", CultureInfo.InvariantCulture)} of business hours {SourceText.Quote(businessHours)})";
        return With<TSelf>(source, action: new ScheduleAction(timer, after, businessHours, source));
    }

    /// <summary>Cancels the conversation's pending timers of these names, if any (in this order).</summary>
    public TSelf Cancel(params string[] timers)
    {
        var names = Checked("timer", timers, TimerChange.MaxNameLength);
        var declaration = (TSelf)this;
        foreach (var name in names)
        {
            declaration = declaration.With<TSelf>($"Cancel({SourceText.Quote(name)})", action: new CancelAction(name));
        }

        return declaration;
    }

    private TSelf FreeScoutText(string operation, string source, Func<Occasion, string> text) =>
        With<TSelf>(source, action: new EnqueueAction("freescout", c => FreeScoutArguments(operation, c, ("text", text(c))), source));

    /// <summary>The <c>http</c> action's arguments, in the order a rule in NRules' DSL would write them.</summary>
    private static Dictionary<string, object?> HttpArguments(string url, Dictionary<string, string>? headers, object? body)
    {
        var arguments = new Dictionary<string, object?>(3, StringComparer.Ordinal) { ["url"] = url };
        if (headers is not null)
        {
            arguments["headers"] = headers;
        }

        if (body is not null)
        {
            arguments["body"] = body;
        }

        return arguments;
    }

    private static Dictionary<string, object?> FreeScoutArguments(string operation, Occasion occasion, params (string Name, object? Value)[] more)
    {
        var arguments = new Dictionary<string, object?>(2 + more.Length, StringComparer.Ordinal)
        {
            ["operation"] = operation,
            ["conversationId"] = occasion.ConversationId,
        };
        foreach (var (name, value) in more)
        {
            arguments[name] = value;
        }

        return arguments;
    }
}

/// <summary>A rule on a status change (<see cref="StatusChanged"/>), as <c>On.StatusChange</c>, <c>On.Close</c> and <c>On.Reopen</c> declare it.</summary>
public sealed class OnStatusChange : OpsDeclaration<OnStatusChange>
{
    private ImmutableArray<Expression<Func<StatusChanged, bool>>> _conditions;
    private bool _notByBot;

    internal OnStatusChange(string trigger, ImmutableArray<Expression<Func<StatusChanged, bool>>> conditions)
        : base(trigger) => _conditions = conditions;

    /// <summary>Not when the delivery is our own write echoed back by FreeScout (an <see cref="OwnWrite"/>, <c>Dispatch:BotUserId</c>).</summary>
    public OnStatusChange NotByBot()
    {
        var copy = With<OnStatusChange>("NotByBot()");
        copy._notByBot = true;
        return copy;
    }

    /// <summary>Only when a customer made the change (the newest thread's author: a customer's reply reopening it).</summary>
    public OnStatusChange ByCustomer() => WithCondition("ByCustomer()", c => c.By != null && c.By.IsCustomer);

    /// <summary>Only when an agent made the change (the user <paramref name="userId"/> when given).</summary>
    public OnStatusChange ByUser(int? userId = null) => userId is { } id
        ? WithCondition($"ByUser({id.ToString(CultureInfo.InvariantCulture)})", c => c.By != null && c.By.IsUser && c.By.Id == id)
        : WithCondition("ByUser()", c => c.By != null && c.By.IsUser);

    private OnStatusChange WithCondition(string call, Expression<Func<StatusChanged, bool>> condition)
    {
        var copy = With<OnStatusChange>(call);
        copy._conditions = _conditions.Add(Inline(condition));
        return copy;
    }

    internal override void Define(ILeftHandSideExpression when, IRightHandSideExpression then)
    {
        when.Match(Symbols.Alias<StatusChanged>(Symbols.Change), [.. _conditions]);
        if (!ConversationConditions.IsEmpty || !Conditions.IsEmpty)
        {
            // The conversation is the delivery's: joined as a rule in NRules' DSL joins it.
            var delivery = Expression.Parameter(typeof(Delivery), "d");
            var change = Symbols.Of(Symbols.Change);
            List<Expression<Func<Delivery, bool>>> conditions =
            [
                Expression.Lambda<Func<Delivery, bool>>(
                    Expression.Equal(Expression.Property(delivery, nameof(Delivery.ConversationId)), Expression.Property(change, nameof(StatusChanged.ConversationId))),
                    delivery),
                .. ConversationConditions.Select(c => Expression.Lambda<Func<Delivery, bool>>(On(c, Expression.Property(delivery, nameof(Delivery.Conversation))), delivery)),
                .. Conditions.Select(c => Expression.Lambda<Func<Delivery, bool>>(Expression.Call(Expression.Constant(c), AuthorCondition.OnChange, change, delivery), delivery)),
            ];
            when.Match(Symbols.Alias<Delivery>(Symbols.Delivery), [.. conditions]);
        }

        if (_notByBot)
        {
            when.Not<OwnWrite>();
        }

        foreach (var action in Actions)
        {
            then.Do(ActionOn(action, Symbols.Change, ConciseAction.OnChange));
        }
    }
}

/// <summary>A rule on a delivery of one of some events (<see cref="Delivery"/>), as <c>On.Event</c> and its shortcuts declare it.</summary>
public sealed class OnEvent : OpsDeclaration<OnEvent>
{
    private ImmutableArray<Expression<Func<Delivery, bool>>> _conditions;
    private bool _notByBot;

    internal OnEvent(string trigger, ImmutableArray<Expression<Func<Delivery, bool>>> conditions)
        : base(trigger) => _conditions = conditions;

    /// <summary>Not when the delivery is our own write echoed back by FreeScout (an <see cref="OwnWrite"/>, <c>Dispatch:BotUserId</c>).</summary>
    public OnEvent NotByBot()
    {
        var copy = With<OnEvent>("NotByBot()");
        copy._notByBot = true;
        return copy;
    }

    /// <summary>Only when the newest thread is a customer's message.</summary>
    public OnEvent FromCustomer() =>
        WithCondition("FromCustomer()", d => d.LatestThread != null && d.LatestThread.Type == ThreadType.Customer);

    /// <summary>Only when an agent wrote the newest thread (the user <paramref name="userId"/> when given).</summary>
    public OnEvent ByUser(int? userId = null) => userId is { } id
        ? WithCondition($"ByUser({id.ToString(CultureInfo.InvariantCulture)})", d => d.LatestThread != null && d.LatestThread.CreatedBy != null && d.LatestThread.CreatedBy.IsUser && d.LatestThread.CreatedBy.Id == id)
        : WithCondition("ByUser()", d => d.LatestThread != null && d.LatestThread.CreatedBy != null && d.LatestThread.CreatedBy.IsUser);

    /// <summary>Only when the delivery says the conversation's status is one of <paramref name="statuses"/>.</summary>
    public OnEvent WhenStatus(params string[] statuses) =>
        WithCondition($"WhenStatus({List(Checked("status", statuses))})", AnyOf<Delivery>(nameof(Delivery.Status), statuses));

    /// <summary>Only when the delivery says the conversation's status is none of <paramref name="statuses"/>.</summary>
    public OnEvent UnlessStatus(params string[] statuses) =>
        WithCondition($"UnlessStatus({List(Checked("status", statuses))})", AnyOf<Delivery>(nameof(Delivery.Status), statuses, negate: true));

    private OnEvent WithCondition(string call, Expression<Func<Delivery, bool>> condition)
    {
        var copy = With<OnEvent>(call);
        copy._conditions = _conditions.Add(Inline(condition));
        return copy;
    }

    internal override void Define(ILeftHandSideExpression when, IRightHandSideExpression then)
    {
        var delivery = Expression.Parameter(typeof(Delivery), "d");
        List<Expression<Func<Delivery, bool>>> conditions =
        [
            .. _conditions,
            .. ConversationConditions.Select(c => Expression.Lambda<Func<Delivery, bool>>(On(c, Expression.Property(delivery, nameof(Delivery.Conversation))), delivery)),
            .. Conditions.Select(c => Expression.Lambda<Func<Delivery, bool>>(Expression.Call(Expression.Constant(c), AuthorCondition.OnDelivery, delivery), delivery)),
        ];
        when.Match(Symbols.Alias<Delivery>(Symbols.Delivery), [.. conditions]);
        if (_notByBot)
        {
            when.Not<OwnWrite>();
        }

        foreach (var action in Actions)
        {
            then.Do(ActionOn(action, Symbols.Delivery, ConciseAction.OnDelivery));
        }
    }
}

/// <summary>
/// A rule on a timer falling due (<see cref="TimerElapsed"/>), as <c>On.Timer</c> declares it. Conditions on the
/// conversation (<c>InMailbox</c>, <c>Assigned</c>…) see its latest known snapshot, and do not hold when none is known.
/// </summary>
public sealed class OnTimer : OpsDeclaration<OnTimer>
{
    private ImmutableArray<Expression<Func<TimerElapsed, bool>>> _conditions;

    internal OnTimer(string trigger, ImmutableArray<Expression<Func<TimerElapsed, bool>>> conditions)
        : base(trigger) => _conditions = conditions;

    /// <summary>Only when the conversation's known status is one of <paramref name="statuses"/> (<see cref="TimerElapsed.KnownStatus"/>).</summary>
    public OnTimer WhenStatus(params string[] statuses) =>
        WithCondition($"WhenStatus({List(Checked("status", statuses))})", AnyOf<TimerElapsed>(nameof(TimerElapsed.KnownStatus), statuses));

    /// <summary>Only when the conversation's known status is none of <paramref name="statuses"/> (none known counts as none of them).</summary>
    public OnTimer UnlessStatus(params string[] statuses) =>
        WithCondition($"UnlessStatus({List(Checked("status", statuses))})", AnyOf<TimerElapsed>(nameof(TimerElapsed.KnownStatus), statuses, negate: true));

    private OnTimer WithCondition(string call, Expression<Func<TimerElapsed, bool>> condition)
    {
        var copy = With<OnTimer>(call);
        copy._conditions = _conditions.Add(Inline(condition));
        return copy;
    }

    internal override void Define(ILeftHandSideExpression when, IRightHandSideExpression then)
    {
        var timer = Expression.Parameter(typeof(TimerElapsed), "t");
        var snapshot = Expression.Property(timer, nameof(TimerElapsed.Snapshot));
        List<Expression<Func<TimerElapsed, bool>>> conditions =
        [
            .. _conditions,
            .. ConversationConditions.Select(c => Expression.Lambda<Func<TimerElapsed, bool>>(
                Expression.AndAlso(Expression.NotEqual(snapshot, Expression.Constant(null, typeof(Conversation))), On(c, snapshot)), timer)),
            .. Conditions.Select(c => Expression.Lambda<Func<TimerElapsed, bool>>(Expression.Call(Expression.Constant(c), AuthorCondition.OnTimer, timer), timer)),
        ];
        when.Match(Symbols.Alias<TimerElapsed>(Symbols.Timer), [.. conditions]);
        foreach (var action in Actions)
        {
            then.Do(ActionOn(action, Symbols.Timer, ConciseAction.OnTimer));
        }
    }
}
