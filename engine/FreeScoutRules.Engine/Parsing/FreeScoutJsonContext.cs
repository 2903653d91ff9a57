using System.Text.Json.Serialization;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Parsing;

/// <summary>
/// Source-generated System.Text.Json metadata for FreeScout payloads: camelCase names as FreeScout
/// sends them, unknown fields ignored, numbers also accepted as strings (PHP is loose with types),
/// duplicate keys refused (a body that says "status" twice is ambiguous, so hostile), PHP's empty
/// array <c>[]</c> accepted where a string is expected (<see cref="FreeScoutStringConverter"/>).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    PropertyNameCaseInsensitive = false,
    NumberHandling = JsonNumberHandling.AllowReadingFromString,
    AllowDuplicateProperties = false,
    MaxDepth = 64,
    GenerationMode = JsonSourceGenerationMode.Metadata,
    Converters = [typeof(FreeScoutStringConverter), typeof(StringListConverter)])]
[JsonSerializable(typeof(Conversation))]
[JsonSerializable(typeof(Customer))]
internal sealed partial class FreeScoutJsonContext : JsonSerializerContext;
