using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using FreeScoutRules.Engine.Parsing;
using FreeScoutRules.Engine.Parsing.Validation;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Benchmarks;

/// <summary>
/// Where the time of <see cref="DeliveryParser.Parse"/> goes on the 7 KB body: System.Text.Json
/// deserialization and FluentValidation alone, a bare token scan of the same bytes (the floor for any
/// JSON reading), and deserialization with the engine's options except the duplicate-key check.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(RunStrategy.Throughput, warmupCount: 3, iterationCount: 15)]
public class ParseBreakdownBenchmarks
{
    private readonly DeliveryParser _parser = new();
    private readonly ConversationValidator _validator = new();
    private byte[] _body = [];
    private Conversation _conversation = null!;
    private JsonTypeInfo<Conversation> _duplicatesAllowed = null!;

    [GlobalSetup]
    public void Setup()
    {
        _body = ParseInputs.ValidBody();
        _conversation = JsonSerializer.Deserialize(_body, FreeScoutJsonContext.Default.Conversation)!;

        // The engine's options and generated metadata, one option flipped: nothing to keep in step by hand.
        var options = new JsonSerializerOptions(FreeScoutJsonContext.Default.Options) { AllowDuplicateProperties = true };
        _duplicatesAllowed = (JsonTypeInfo<Conversation>)options.GetTypeInfo(typeof(Conversation));
    }

    [Benchmark(Baseline = true, Description = "Engine: DeliveryParser.Parse")]
    public Conversation? ParseAndValidate() => _parser.Parse(Inputs.EventName, _body).Delivery?.Conversation;

    /// <summary>The System.Text.Json part alone (the engine's source-generated context and options).</summary>
    [Benchmark(Description = "JSON deserialize (engine context)")]
    public Conversation? DeserializeOnly() => JsonSerializer.Deserialize(_body, FreeScoutJsonContext.Default.Conversation);

    /// <summary>The FluentValidation part alone, on an already deserialized conversation.</summary>
    [Benchmark(Description = "Validate only (FluentValidation)")]
    public bool ValidateOnly() => _validator.Validate(_conversation).IsValid;

    /// <summary>Same options as the engine's context but duplicate properties allowed (no per-object duplicate tracking).</summary>
    [Benchmark(Description = "JSON deserialize, duplicates allowed")]
    public Conversation? DeserializeWithoutDuplicateCheck() => JsonSerializer.Deserialize(_body, _duplicatesAllowed);

    /// <summary>Every token of the body read and string values unescaped, nothing materialised: the floor of any JSON reading.</summary>
    [Benchmark(Description = "Utf8JsonReader scan + unescape strings")]
    public int TokenScan()
    {
        var reader = new Utf8JsonReader(_body);
        var length = 0;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.String)
            {
                length += reader.GetString()!.Length;
            }
        }

        return length;
    }
}
