using CompactAI.Inference;

namespace CompactAI.Hybrid;

/// <summary>
/// Token-level evidence about one local answer, computed from the model's own full-softmax distribution at each
/// generated token. All probabilities are in [0, 1], log-probabilities and entropies in nats.
/// </summary>
/// <remarks>
/// Quantiles use linear interpolation between order statistics (the "type 7" definition of Hyndman and Fan, the
/// default of R and NumPy): for sorted probabilities <c>x[0..n-1]</c> and level <c>q</c>, <c>h = (n-1)q</c>, and the
/// quantile is <c>x[⌊h⌋] + (h-⌊h⌋)(x[⌊h⌋+1]-x[⌊h⌋])</c>.
/// </remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.ScorerSignals)]
public sealed record ConfidenceSignals
{
    /// <summary>Number of generated tokens the signals cover.</summary>
    public required int TokenCount { get; init; }

    /// <summary>Length-normalized log-likelihood: the mean of the chosen tokens' log-probabilities.</summary>
    public required double MeanLogProbability { get; init; }

    /// <summary>Smallest chosen-token probability (falls with length: more draws, lower minimum).</summary>
    public required double MinTokenProbability { get; init; }

    /// <summary>Mean entropy of the next-token distributions.</summary>
    public required double MeanEntropy { get; init; }

    /// <summary>Mean of top-1 minus top-2 probability: how decisively the model preferred its first choice.</summary>
    public required double MeanMargin { get; init; }

    /// <summary>10th percentile of the chosen-token probabilities.</summary>
    public required double P10TokenProbability { get; init; }

    /// <summary>25th percentile of the chosen-token probabilities.</summary>
    public required double P25TokenProbability { get; init; }

    /// <summary>Perplexity of the prompt under the local model, when it was measured.</summary>
    public double? PromptPerplexity { get; init; }

    /// <summary>Computes the signals of a complete token list.</summary>
    /// <param name="tokens">The generated tokens.</param>
    /// <param name="promptPerplexity">Prompt perplexity, when known.</param>
    /// <returns>The signals; an empty list gives zero tokens, probabilities of 0 and entropy 0.</returns>
    public static ConfidenceSignals FromTokens(IReadOnlyList<GeneratedToken> tokens, double? promptPerplexity = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var accumulator = new ConfidenceSignalsAccumulator();
        for (int i = 0; i < tokens.Count; i++)
        {
            accumulator.Add(tokens[i]);
        }

        return accumulator.ToSignals(promptPerplexity);
    }

    /// <summary>The type-7 quantile of an ascending-sorted list.</summary>
    /// <param name="sorted">Values sorted ascending; must not be empty.</param>
    /// <param name="level">Quantile level in [0, 1].</param>
    /// <returns>The interpolated quantile.</returns>
    internal static double Quantile(IReadOnlyList<double> sorted, double level)
    {
        double h = (sorted.Count - 1) * level;
        int lo = (int)Math.Floor(h);
        if (lo >= sorted.Count - 1)
        {
            return sorted[^1];
        }

        return sorted[lo] + ((h - lo) * (sorted[lo + 1] - sorted[lo]));
    }
}
