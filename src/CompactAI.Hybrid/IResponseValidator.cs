using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>
/// Checks a local answer before it is committed. A failed validation always escalates, whatever the confidence.
/// </summary>
/// <remarks>Implementations must be thread-safe: one instance serves concurrent requests.</remarks>
public interface IResponseValidator
{
    /// <summary>Short name recorded in <see cref="HybridDecision.ValidatorResults"/>.</summary>
    string Name { get; }

    /// <summary>Validates a response.</summary>
    /// <param name="response">The local answer.</param>
    /// <param name="cancellationToken">Cancels the validation.</param>
    /// <returns>Whether the answer is acceptable, and why not.</returns>
    ValueTask<ResponseValidationResult> ValidateAsync(ChatResponse response, CancellationToken cancellationToken);
}
