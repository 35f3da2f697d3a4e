namespace CompactAI;

/// <summary>How well the local model predicts a prompt.</summary>
/// <param name="TokenCount">Number of scored prompt tokens (every token after the first).</param>
/// <param name="MeanLogProbability">Mean natural-log probability of the scored tokens (0 when none were scored).</param>
/// <param name="Perplexity"><c>exp(-MeanLogProbability)</c>; 1 is a perfectly predicted prompt.</param>
public readonly record struct PromptScore(int TokenCount, double MeanLogProbability, double Perplexity)
{
    /// <summary>Builds a score from per-token log-probabilities (as found under <see cref="CompactAIPropertyNames.PromptLogProbabilities"/>).</summary>
    /// <param name="logProbabilities">Log-probability of each prompt token after the first.</param>
    /// <returns>The score; an empty list gives perplexity 1.</returns>
    public static PromptScore FromLogProbabilities(IReadOnlyList<float> logProbabilities)
    {
        ArgumentNullException.ThrowIfNull(logProbabilities);
        if (logProbabilities.Count == 0)
        {
            return new PromptScore(0, 0, 1);
        }

        double sum = 0;
        for (int i = 0; i < logProbabilities.Count; i++)
        {
            sum += logProbabilities[i];
        }

        double mean = sum / logProbabilities.Count;
        return new PromptScore(logProbabilities.Count, mean, Math.Exp(-mean));
    }
}
