using FluentValidation;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Parsing.Validation;

/// <summary>
/// What a conversation body must hold for the engine to reason about it: its identity, its status
/// and when it changed. Values FreeScout may extend (status spellings, types) are not restricted.
/// </summary>
internal sealed class ConversationValidator : AbstractValidator<Conversation>
{
    static ConversationValidator() => JsonNames.Install();

    public ConversationValidator()
    {
        RuleFor(c => c.Id).GreaterThan(0).WithMessage(Messages.PositiveId);
        RuleFor(c => c.Number).GreaterThan(0).WithMessage(Messages.PositiveId);
        RuleFor(c => c.Status).NotEmpty().WithMessage(Messages.Required);
        RuleFor(c => c.UpdatedAt).NotNull().WithMessage(Messages.Required);
        RuleFor(c => c.Embedded!.Threads).ForEach(t => t.SetValidator(ThreadValidator.Instance))
            .OverridePropertyName("_embedded.threads")
            .When(c => c.Embedded is not null);
        RuleForEach(c => c.CustomFields).ChildRules(f => f.RuleFor(x => x.Id).GreaterThan(0).WithMessage(Messages.PositiveId));
    }

    private sealed class ThreadValidator : AbstractValidator<ConversationThread>
    {
        public static readonly ThreadValidator Instance = new();

        private ThreadValidator()
        {
            RuleFor(t => t.Id).GreaterThan(0).WithMessage(Messages.PositiveId);
            RuleFor(t => t.Type).NotEmpty().WithMessage(Messages.Required);
        }
    }
}
