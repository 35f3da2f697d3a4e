using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>A validator from a callback, for checks that do not deserve a class (a unit test, a domain rule).</summary>
public sealed class DelegateValidator : IResponseValidator
{
    private readonly Func<ChatResponse, CancellationToken, ValueTask<ResponseValidationResult>> _validate;

    /// <summary>Creates a validator from a full asynchronous callback.</summary>
    /// <param name="name">Name recorded in decisions.</param>
    /// <param name="validate">The check; must be thread-safe.</param>
    public DelegateValidator(string name, Func<ChatResponse, CancellationToken, ValueTask<ResponseValidationResult>> validate)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(validate);
        Name = name;
        _validate = validate;
    }

    /// <summary>Creates a validator from a predicate on the answer text.</summary>
    /// <param name="name">Name recorded in decisions.</param>
    /// <param name="isValid">Returns whether the text is acceptable; must be thread-safe.</param>
    /// <param name="error">Message recorded when the predicate returns <see langword="false"/>.</param>
    public DelegateValidator(string name, Func<string, bool> isValid, string error = "predicate rejected the answer")
        : this(name, CreateFromPredicate(name, isValid, error))
    {
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ValueTask<ResponseValidationResult> ValidateAsync(ChatResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        return _validate(response, cancellationToken);
    }

    private static Func<ChatResponse, CancellationToken, ValueTask<ResponseValidationResult>> CreateFromPredicate(
        string name, Func<string, bool> isValid, string error)
    {
        ArgumentNullException.ThrowIfNull(isValid);
        return (response, _) => ValueTask.FromResult(isValid(response.Text)
            ? ResponseValidationResult.Pass(name)
            : ResponseValidationResult.Fail(name, error));
    }
}
