using System.Text.RegularExpressions;

namespace FreeScoutRules.Actions;

/// <summary>
/// References to secrets configured on the server (<c>Secrets:NAME</c>, or <c>Secrets__NAME</c> in the
/// environment), for action arguments: <c>headers = new Dictionary&lt;string, string&gt; { { "Authorization", $"Bearer {Secret.Ref("hook_token")}" } }</c>.
/// The intent records the reference (<c>secret://hook_token</c>); the action runner puts the value in
/// only when it executes an attempt, so the value is never stored, logged or shown. Thread-safe.
/// </summary>
public static partial class Secret
{
    /// <summary>What a reference starts with.</summary>
    public const string Scheme = "secret://";

    /// <summary>The reference to the secret <paramref name="name"/> (letters, digits and '_' (so that it can be set from the environment)).</summary>
    /// <exception cref="ArgumentException">The name is empty or has other characters.</exception>
    public static string Ref(string name)
    {
        if (string.IsNullOrEmpty(name) || !NamePattern().IsMatch(name))
        {
            throw new ArgumentException($"A secret's name is letters, digits and '_' (so that it can be set from the environment), not '{name}'.", nameof(name));
        }

        return Scheme + name;
    }

    /// <summary>True when <paramref name="name"/> can name a secret.</summary>
    public static bool IsValidName(string? name) => !string.IsNullOrEmpty(name) && NamePattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9_]+$")]
    private static partial Regex NamePattern();
}
