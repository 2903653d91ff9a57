using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Benchmark 1: parsing and validating one ~7 KB delivery, from the raw request bytes to a
/// <see cref="ParsedDelivery"/>, exactly as the engine does per request (target: median ≤ 15 µs).
/// <see cref="ParseBreakdownBenchmarks"/> splits the time.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(RunStrategy.Throughput, warmupCount: 3, iterationCount: 15)]
public class ParseBenchmarks
{
    private readonly DeliveryParser _parser = new();
    private byte[] _body = [];

    [GlobalSetup]
    public void Setup() => _body = ParseInputs.ValidBody();

    /// <summary><see cref="DeliveryParser.Parse"/> on the raw bytes of convo.status.closed.on-reply.body (7,117 bytes).</summary>
    [Benchmark(Description = "Parse+validate 7 KB convo.status")]
    public Conversation? ParseAndValidate() => _parser.Parse(Inputs.EventName, _body).Delivery?.Conversation;
}

internal static class ParseInputs
{
    /// <summary>The fixture body, checked to parse and validate.</summary>
    public static byte[] ValidBody()
    {
        var body = Inputs.ReadBody();
        var result = new DeliveryParser().Parse(Inputs.EventName, body);
        if (!result.IsValid || result.Delivery.Conversation is null)
        {
            throw new InvalidOperationException($"The benchmark body does not parse: {result.Problem?.Message}");
        }

        return body;
    }
}
