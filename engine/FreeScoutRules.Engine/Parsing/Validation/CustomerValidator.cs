using FluentValidation;
using FreeScoutRules.FreeScout;

namespace FreeScoutRules.Engine.Parsing.Validation;

/// <summary>What a full customer body (<c>customer.created</c>, <c>customer.updated</c>) must hold.</summary>
internal sealed class CustomerValidator : AbstractValidator<Customer>
{
    public CustomerValidator()
    {
        RuleFor(c => c.Id).GreaterThan(0).OverridePropertyName("id").WithMessage(Messages.PositiveId);
    }
}
