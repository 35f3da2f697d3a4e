namespace CompactAI.Sampling;

/// <summary>
/// What the sampler chain reports for one pick: the chosen token and the model's own distribution (softmax of the raw
/// logits at temperature 1, before any step), which the decode loop turns into a <see cref="Inference.GeneratedToken"/>.
/// </summary>
/// <param name="Id">The chosen token; −1 when no candidate remained (the constraint, or a custom step, allowed none).</param>
/// <param name="LogProbability">Natural log of the chosen token's raw probability (−∞ when none was chosen).</param>
/// <param name="Entropy">Entropy of the raw distribution in nats.</param>
/// <param name="Top1Probability">Raw probability of the most likely token.</param>
/// <param name="Top2Probability">Raw probability of the second most likely token.</param>
internal readonly record struct SampledToken(int Id, float LogProbability, float Entropy, float Top1Probability, float Top2Probability);
