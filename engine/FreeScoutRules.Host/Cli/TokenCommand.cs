using System.CommandLine;
using FreeScoutRules.Host.Settings;

namespace FreeScoutRules.Host.Cli;

/// <summary>
/// <c>freescout-rules token</c>: prints a new random token for <c>FREESCOUTRULES_ADMIN_TOKEN</c> or
/// <c>Observability:MetricsToken</c>: 32 bytes of <see cref="System.Security.Cryptography.RandomNumberGenerator"/>,
/// base64url (43 characters, safe in a URL, a header and an environment file). Reads no settings, stores nothing.
/// </summary>
internal static class TokenCommand
{
    public static Command Create()
    {
        var command = new Command("token", "Print a new random token (256 bits, base64url) for FREESCOUTRULES_ADMIN_TOKEN or Observability:MetricsToken.");
        command.SetAction(result =>
        {
            result.InvocationConfiguration.Output.WriteLine(TokenStrength.Generate());
            return ExitCodes.Ok;
        });
        return command;
    }
}
