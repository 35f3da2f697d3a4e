using CompactAI.Tokenization;

namespace CompactAI.Sampling.Constraints;

/// <summary>
/// A rule the generated text must obey (a grammar, a JSON schema). The sampler asks the per-generation
/// <see cref="IGenerationConstraintState"/> which tokens may come next and sets the others' logits to −∞ before the
/// penalties and truncation run, so the chosen token always keeps the output valid.
/// </summary>
/// <remarks>Implementations are immutable and thread-safe; the states they create are not.</remarks>
public interface IGenerationConstraint
{
    /// <summary>Starts a generation: a fresh state at the beginning of the output, for <paramref name="tokenizer"/>'s vocabulary.</summary>
    IGenerationConstraintState CreateState(ModelTokenizer tokenizer);
}

/// <summary>
/// Where one generation stands under an <see cref="IGenerationConstraint"/>. Not thread-safe: one per generation stream.
/// <see cref="ApplyMask"/> and <see cref="Accept"/> run once per token and must not allocate.
/// </summary>
public interface IGenerationConstraintState
{
    /// <summary>The output so far is complete and valid (an end-of-generation token is allowed now).</summary>
    bool IsComplete { get; }

    /// <summary>The output is complete and nothing but the end may follow: the generation stops here.</summary>
    bool RequiresEnd { get; }

    /// <summary>
    /// Sets to <see cref="float.NegativeInfinity"/> the logit of every token that would break the output; allowed tokens
    /// keep their value. End-of-generation tokens are allowed only when <see cref="IsComplete"/>.
    /// </summary>
    /// <param name="logits">The next-token logits, changed in place.</param>
    /// <param name="tokensLeft">
    /// How many tokens the generation may still produce, this one included. A constraint may use it to steer towards a
    /// complete output in time (e.g. closing a JSON document rather than opening another member when few tokens are left).
    /// </param>
    /// <returns>False when no token at all is allowed.</returns>
    bool ApplyMask(Span<float> logits, int tokensLeft);

    /// <summary>Advances over the chosen token.</summary>
    /// <exception cref="InvalidOperationException">The token is not allowed here (it was masked).</exception>
    void Accept(int tokenId);
}
