using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace FreeScoutRules.Actions;

/// <summary>
/// References to secrets configured on the server (<c>Secrets:NAME</c>, or <c>Secrets__NAME</c> in the
/// environment), for action arguments: <c>headers = new Dictionary&lt;string, string&gt; { { "Authorization", $"Bearer {Secret.Ref("hook_token")}" } }</c>.
/// The intent records the reference (<c>secret://hook_token</c>) and where the rule put it; the action runner puts
/// the value in only there, and only when it executes an attempt, so the value is never stored, logged or shown,
/// and text that merely looks like a reference (a customer's subject <c>secret://hook_token</c>) stays text.
/// Thread-safe.
/// </summary>
public static partial class Secret
{
    /// <summary>What a reference starts with, as intents record it.</summary>
    public const string Scheme = "secret://";

    /// <summary>
    /// A marker only this process can write: a random nonce drawn at start. <see cref="Ref"/> returns it around the
    /// name, and only markers with this nonce become secret places when an intent's arguments are recorded
    /// (text from a delivery cannot know it). It never leaves the process: the recorded arguments hold
    /// <see cref="Scheme"/> + name instead.
    /// </summary>
    internal static readonly string Nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Opens a marker (a private-use character, never in FreeScout's text by accident).</summary>
    internal const char MarkerStart = '\uE000';

    /// <summary>Closes a marker.</summary>
    internal const char MarkerEnd = '\uE001';

    /// <summary>
    /// The reference to the secret <paramref name="name"/> (letters, digits and '_' (so that it can be set from the
    /// environment)), to put into an action's arguments, alone or inside a string (<c>$"Bearer {Secret.Ref("x")}"</c>).
    /// The string returned is a marker for the engine, not the value and not meant to be shown; the intent records it
    /// as <c>secret://NAME</c> with its place.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or has other characters.</exception>
    public static string Ref(string name)
    {
        if (string.IsNullOrEmpty(name) || !NamePattern().IsMatch(name))
        {
            throw new ArgumentException($"A secret's name is letters, digits and '_' (so that it can be set from the environment), not '{name}'.", nameof(name));
        }

        return $"{MarkerStart}{Nonce}:{name}{MarkerEnd}";
    }

    /// <summary>True when <paramref name="name"/> can name a secret.</summary>
    public static bool IsValidName(string? name) => !string.IsNullOrEmpty(name) && NamePattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9_]+$")]
    private static partial Regex NamePattern();
}
