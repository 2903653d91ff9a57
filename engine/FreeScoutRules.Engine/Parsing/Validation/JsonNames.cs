using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using FluentValidation;

namespace FreeScoutRules.Engine.Parsing.Validation;

/// <summary>
/// Makes FluentValidation name properties as they appear in the JSON body
/// (<c>_embedded.threads[0].status</c>), so a message points the sender at the exact field.
/// </summary>
internal static class JsonNames
{
    private static int _installed;

    /// <summary>Installs the resolver once per process (FluentValidation's resolvers are global).</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 1)
        {
            return;
        }

        ValidatorOptions.Global.PropertyNameResolver = (_, member, _) => member is null ? null : Of(member);
        ValidatorOptions.Global.DisplayNameResolver = (_, member, _) => member is null ? null : Of(member);
    }

    private static string Of(MemberInfo member) =>
        member.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(member.Name);
}
