namespace CompactAI.Inference;

/// <summary>One candidate for a generated position: a token and its log-probability under the model's own distribution.</summary>
/// <param name="Id">Token id.</param>
/// <param name="LogProbability">Natural log of the token's probability (softmax of the raw logits at temperature 1).</param>
public readonly record struct TokenLogProbability(int Id, float LogProbability);
