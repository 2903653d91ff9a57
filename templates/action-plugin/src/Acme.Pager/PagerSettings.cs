using FluentValidation;

namespace Acme.Pager;

/// <summary>
/// The plugin's own settings, read from the server's environment when the server loads the plugin:
/// <c>PAGER_URL</c> (where to post) and <c>PAGER_TOKEN</c> (sent as a bearer token).
/// </summary>
public sealed record PagerSettings(string? Url, string? Token)
{
    public const string UrlVariable = "PAGER_URL";
    public const string TokenVariable = "PAGER_TOKEN";

    /// <summary>The rules the settings must follow; each failure is one line of <see cref="PagerAction.ConfigurationProblems"/>.</summary>
    public static IValidator<PagerSettings> Validator { get; } = new PagerSettingsValidator();

    public static PagerSettings FromEnvironment() => From(Environment.GetEnvironmentVariable);

    /// <summary>The settings from <paramref name="variable"/> (a name to its value, <c>null</c> when not set).</summary>
    public static PagerSettings From(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        return new PagerSettings(variable(UrlVariable), variable(TokenVariable));
    }

    private sealed class PagerSettingsValidator : AbstractValidator<PagerSettings>
    {
        public PagerSettingsValidator()
        {
            RuleFor(s => s.Url).Cascade(CascadeMode.Stop)
                .NotEmpty().WithMessage($"{UrlVariable} is not set: the address to post to (https://…), in the server's environment")
                .Must(url => Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http")
                .WithMessage(s => $"{UrlVariable} is not an absolute http(s) URL: '{s.Url}'");
            RuleFor(s => s.Token)
                .NotEmpty().WithMessage($"{TokenVariable} is not set: the service's API token, in the server's environment");
        }
    }
}
