using CompactAI.Inference;

namespace CompactAI.Hybrid;

/// <summary>
/// Running sums behind <see cref="ConfidenceSignals"/>, so a stream can be scored after every token (early exit)
/// without rescanning: sums are O(1) per token and the probabilities are kept sorted by binary insertion.
/// </summary>
internal sealed class ConfidenceSignalsAccumulator
{
    private readonly List<double> _sortedProbabilities = [];
    private double _sumLogProbability;
    private double _sumEntropy;
    private double _sumMargin;

    /// <summary>Tokens seen so far.</summary>
    public int Count => _sortedProbabilities.Count;

    /// <summary>Adds one generated token.</summary>
    public void Add(in GeneratedToken token)
    {
        double p = Math.Exp(token.LogProbability);
        int index = _sortedProbabilities.BinarySearch(p);
        _sortedProbabilities.Insert(index < 0 ? ~index : index, p);
        _sumLogProbability += token.LogProbability;
        _sumEntropy += token.Entropy;
        _sumMargin += token.Top1Probability - token.Top2Probability;
    }

    /// <summary>The signals of the tokens seen so far.</summary>
    public ConfidenceSignals ToSignals(double? promptPerplexity)
    {
        int n = _sortedProbabilities.Count;
        if (n == 0)
        {
            return new ConfidenceSignals
            {
                TokenCount = 0,
                MeanLogProbability = 0,
                MinTokenProbability = 0,
                MeanEntropy = 0,
                MeanMargin = 0,
                P10TokenProbability = 0,
                P25TokenProbability = 0,
                PromptPerplexity = promptPerplexity,
            };
        }

        return new ConfidenceSignals
        {
            TokenCount = n,
            MeanLogProbability = _sumLogProbability / n,
            MinTokenProbability = _sortedProbabilities[0],
            MeanEntropy = _sumEntropy / n,
            MeanMargin = _sumMargin / n,
            P10TokenProbability = ConfidenceSignals.Quantile(_sortedProbabilities, 0.10),
            P25TokenProbability = ConfidenceSignals.Quantile(_sortedProbabilities, 0.25),
            PromptPerplexity = promptPerplexity,
        };
    }
}
