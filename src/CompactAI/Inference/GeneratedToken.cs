namespace CompactAI.Inference;

/// <summary>
/// One generated token with the evidence confidence scoring needs. Probabilities are the model's own next-token
/// distribution (softmax of the raw logits at temperature 1, before any sampling truncation).
/// </summary>
/// <param name="Id">Token id.</param>
/// <param name="Text">The text this token completes (may be empty while a multi-byte character is incomplete).</param>
/// <param name="LogProbability">Natural log of the chosen token's probability.</param>
/// <param name="Entropy">Entropy of the distribution in nats.</param>
/// <param name="Top1Probability">Probability of the most likely token.</param>
/// <param name="Top2Probability">Probability of the second most likely token.</param>
public readonly record struct GeneratedToken(int Id, string Text, float LogProbability, float Entropy, float Top1Probability, float Top2Probability)
{
    /// <summary>The chosen token's probability.</summary>
    public float Probability => MathF.Exp(LogProbability);

    /// <summary>
    /// The most likely tokens at this position, most likely first (ties by lower id), with their log-probabilities under the
    /// same distribution as <see cref="LogProbability"/>; null unless <see cref="GenerationOptions.TopLogProbabilities"/> asked for them.
    /// </summary>
    public IReadOnlyList<TokenLogProbability>? TopLogProbabilities { get; init; }
}
