using FluentValidation;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Parsing.Validation;

/// <summary>What a full customer body (<c>customer.created</c>, <c>customer.updated</c>) must hold.</summary>
internal sealed class CustomerValidator : AbstractValidator<Customer>
{
    static CustomerValidator() => JsonNames.Install();

    public CustomerValidator()
    {
        RuleFor(c => c.Id).GreaterThan(0).WithMessage(Messages.PositiveId);
    }
}
