namespace CompactAI.Hybrid;

/// <summary>The outcome of one <see cref="IResponseValidator"/>.</summary>
/// <param name="Validator">The validator's <see cref="IResponseValidator.Name"/>.</param>
/// <param name="IsValid">Whether the answer passed.</param>
/// <param name="Error">Why it failed; <see langword="null"/> when it passed.</param>
public sealed record ResponseValidationResult(string Validator, bool IsValid, string? Error = null)
{
    /// <summary>A passing result.</summary>
    /// <param name="validator">The validator's name.</param>
    /// <returns>The result.</returns>
    public static ResponseValidationResult Pass(string validator) => new(validator, true);

    /// <summary>A failing result.</summary>
    /// <param name="validator">The validator's name.</param>
    /// <param name="error">Why the answer failed.</param>
    /// <returns>The result.</returns>
    public static ResponseValidationResult Fail(string validator, string error) => new(validator, false, error);
}
