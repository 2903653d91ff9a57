namespace FreeScoutRules.Host.Cli;

/// <summary>Process exit codes of the verbs, documented in the README.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Some input was bad or a rule failed on it; the rest was processed.</summary>
    public const int BadInput = 1;

    /// <summary>Nothing could run: the rules do not compile, or a file is missing.</summary>
    public const int CannotRun = 2;

    /// <summary>The server stopped because a background loop failed (the log names it); its supervisor should start it again.</summary>
    public const int Failed = 3;
}
