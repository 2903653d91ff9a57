using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using FreeScoutRules.Actions;
using FreeScoutRules.Engine.Pipeline;
using FreeScoutRules.Engine.Rules;
using FreeScoutRules.Facts;
using NRules;
using NRules.Extensibility;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Where the time of <see cref="EvaluationPipeline.Evaluate"/> goes: the same steps as the engine, cut off
/// after each one (cumulative), plus the result queries measured alone on an already fired session.
/// These replicate the pipeline's code in the benchmark (the engine is not changed); the engine's own
/// call is the baseline.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(RunStrategy.Throughput, warmupCount: 3, iterationCount: 15)]
public class EvaluateBreakdownBenchmarks
{
    private RuleSetGeneration _rules = null!;
    private string _folder = "";
    private Delivery _delivery = null!;
    private PriorState _prior = null!;
    private ISession _firedSession = null!;
    private ISession _reusedSession = null!;
    private readonly List<string> _reusedFired = [];

    /// <summary>Generated ops rules next to the 4 built-in ones.</summary>
    [Params(0, 200)]
    public int OpsRules { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_folder, _rules, _delivery, _prior) = RuleSetup.Create(OpsRules);
        _firedSession = InsertAndFire();
        _reusedSession = _rules.SessionFactory.CreateSession();
        _reusedSession.DependencyResolver = new DeliveryResolver(_delivery);
        _reusedSession.Events.RuleFiredEvent += (_, e) => _reusedFired.Add(e.Rule.Name);
        var expected = Inputs.Evaluate(_rules, _delivery, _prior);
        for (var i = 0; i < 3; i++)
        {
            var (changes, intents, next, fired) = ReuseSessionOnce();
            if (changes.Count != expected.StatusChanges.Count || intents.Count != expected.Intents.Count
                || next is null || fired.Count != expected.RulesFired.Count || _reusedSession.Query<object>().Any())
            {
                throw new InvalidOperationException($"The reused session differs from the engine on use {i + 1}.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => RuleSetup.Dispose(_folder, _rules);

    [Benchmark(Baseline = true, Description = "Engine: EvaluationPipeline.Evaluate")]
    public object EngineEvaluate() => Inputs.Evaluate(_rules, _delivery, _prior);

    [Benchmark(Description = "1. CreateSession")]
    public ISession CreateSession() => _rules.SessionFactory.CreateSession();

    [Benchmark(Description = "2. + resolver, event, Insert x2")]
    public ISession CreateSessionAndInsert()
    {
        var session = NewSession(out _);
        session.Insert(_delivery);
        session.Insert(_prior);
        return session;
    }

    /// <summary>
    /// Step 2 plus the StatusChanged that the built-in rule would derive, inserted by hand and not fired:
    /// the matching of that fact against every rule (activations are created, no action runs).
    /// Step 3 minus this is the agenda and the actions (the inserts of the built-in rules, the ctx.Enqueue calls).
    /// </summary>
    [Benchmark(Description = "2b. + Insert StatusChanged, no Fire")]
    public ISession CreateSessionAndInsertChange()
    {
        var session = NewSession(out _);
        session.Insert(_delivery);
        session.Insert(_prior);
        session.Insert(StatusChanged.Derive(_delivery, _prior.Status));
        return session;
    }

    [Benchmark(Description = "3. + Fire")]
    public ISession CreateSessionInsertFire() => InsertAndFire();

    /// <summary>Steps 1-3 and the engine's three result queries, with the NextState lookup done by LINQ to Objects.</summary>
    [Benchmark(Description = "4. + queries (LINQ to Objects)")]
    public object FullWithEnumerableQueries()
    {
        var session = NewSession(out var fired);
        session.Insert(_delivery);
        session.Insert(_prior);
        session.Fire();
        var conversationId = _delivery.ConversationId;
        return (
            session.Query<StatusChanged>().ToList(),
            session.Query<ActionIntent>().ToList(),
            session.Query<NextState>().AsEnumerable().FirstOrDefault(s => s.ConversationId == conversationId),
            fired);
    }

    /// <summary>
    /// Steps 2-4 on one session kept from the setup instead of a new one per delivery: insert, fire,
    /// query, then retract every fact so the session is empty again. Measures what session reuse
    /// (a pool) could save; the retraction of the derived StatusChanged runs through the rules again.
    /// </summary>
    [Benchmark(Description = "5. reused session (retract all after)")]
    public object ReusedSession() => ReuseSessionOnce();

    private (List<StatusChanged> Changes, List<ActionIntent> Intents, NextState? Next, List<string> Fired) ReuseSessionOnce()
    {
        var session = _reusedSession;
        _reusedFired.Clear();
        session.Insert(_delivery);
        session.Insert(_prior);
        session.Fire();
        var conversationId = _delivery.ConversationId;
        var result = (
            session.Query<StatusChanged>().ToList(),
            session.Query<ActionIntent>().ToList(),
            session.Query<NextState>().AsEnumerable().FirstOrDefault(s => s.ConversationId == conversationId),
            _reusedFired.ToList());
        session.RetractAll(session.Query<object>().ToList());
        return result;
    }

    /// <summary>The engine's NextState lookup alone: Queryable.FirstOrDefault(predicate) on session.Query (an EnumerableQuery).</summary>
    [Benchmark(Description = "Query: Queryable.FirstOrDefault(pred)")]
    public NextState? QueryableFirstOrDefault() =>
        _firedSession.Query<NextState>().FirstOrDefault(s => s.ConversationId == _delivery.ConversationId);

    /// <summary>The same lookup through Enumerable (AsEnumerable first).</summary>
    [Benchmark(Description = "Query: Enumerable.FirstOrDefault(pred)")]
    public NextState? EnumerableFirstOrDefault() =>
        _firedSession.Query<NextState>().AsEnumerable().FirstOrDefault(s => s.ConversationId == _delivery.ConversationId);

    private ISession InsertAndFire()
    {
        var session = NewSession(out _);
        session.Insert(_delivery);
        session.Insert(_prior);
        session.Fire();
        return session;
    }

    private ISession NewSession(out List<string> fired)
    {
        var session = _rules.SessionFactory.CreateSession();
        session.DependencyResolver = new DeliveryResolver(_delivery);
        var names = new List<string>();
        session.Events.RuleFiredEvent += (_, e) => names.Add(e.Rule.Name);
        fired = names;
        return session;
    }

    /// <summary>As the pipeline's: lets ctx.Enqueue find the delivery.</summary>
    private sealed class DeliveryResolver(Delivery delivery) : IDependencyResolver
    {
        public object Resolve(IResolutionContext context, Type serviceType) =>
            serviceType == typeof(Delivery) ? delivery : throw new InvalidOperationException(serviceType.Name);
    }
}
