using FluentValidation;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Parsing.Validation;

/// <summary>
/// What a conversation body must hold (properties named by their JSON path, so a message points at the field) for the engine to reason about it: its identity, its status
/// and when it changed. Values FreeScout may extend (status spellings, types) are not restricted.
/// </summary>
internal sealed class ConversationValidator : AbstractValidator<Conversation>
{
    public ConversationValidator()
    {
        RuleFor(c => c.Id).GreaterThan(0).OverridePropertyName("id").WithMessage(Messages.PositiveId);
        RuleFor(c => c.Number).GreaterThan(0).OverridePropertyName("number").WithMessage(Messages.PositiveId);
        RuleFor(c => c.Status).NotEmpty().OverridePropertyName("status").WithMessage(Messages.Required);
        RuleFor(c => c.UpdatedAt).NotNull().OverridePropertyName("updatedAt").WithMessage(Messages.Required);
        RuleFor(c => c.Embedded!.Threads).ForEach(t => t.SetValidator(ThreadValidator.Instance))
            .OverridePropertyName("_embedded.threads")
            .When(c => c.Embedded is not null);
        RuleForEach(c => c.CustomFields)
            .ChildRules(f => f.RuleFor(x => x.Id).GreaterThan(0).OverridePropertyName("id").WithMessage(Messages.PositiveId))
            .OverridePropertyName("customFields");
    }

    private sealed class ThreadValidator : AbstractValidator<ConversationThread>
    {
        public static readonly ThreadValidator Instance = new();

        private ThreadValidator()
        {
            RuleFor(t => t.Id).GreaterThan(0).OverridePropertyName("id").WithMessage(Messages.PositiveId);
            RuleFor(t => t.Type).NotEmpty().OverridePropertyName("type").WithMessage(Messages.Required);
        }
    }
}
