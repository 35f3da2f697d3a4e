namespace CompactAI.Hybrid;

/// <summary>
/// A logistic combination of the signals that carry most of the evidence, with weights chosen to be sensible before
/// any calibration:
/// <code>
/// z = Bias
///   + QuantileWeight       · logit(P10TokenProbability)
///   + MeanLogProbWeight    · MeanLogProbability
///   − EntropyWeight        · MeanEntropy
///   + MarginWeight         · MeanMargin
///   + MinProbabilityWeight · logit(MinTokenProbability)
///   − PromptPerplexityWeight · ln(PromptPerplexity)      (only when the prompt was scored)
/// confidence = 1 / (1 + e^(−z))
/// </code>
/// Defaults: Bias 1, QuantileWeight 1, MeanLogProbWeight 1.5, EntropyWeight 0.75, MarginWeight 1,
/// MinProbabilityWeight 0, PromptPerplexityWeight 1. Probabilities are clamped to [1e-6, 1 − 1e-6] before the logit.
/// An empty answer scores 0.
/// </summary>
/// <remarks>
/// <para>Why the prompt's perplexity weighs as much as the answer's signals together: a small specialised model keeps
/// answering fluently in its own domain even when asked something else (stories260K writes a story after a SQL query),
/// so the answer's token probabilities hardly move; how surprised the model is by the prompt is what tells a prompt
/// outside its domain. On the stories260K routing set (tests/…/Hybrid/Data/routing-eval.jsonl) the prompt perplexity
/// alone separates in- from out-of-domain prompts with AUROC 1.0, the answer signals with 0.63–0.79.</para>
/// <para>Why a low quantile rather than the minimum or the mean: the mean log-probability is length-normalized but
/// dominated by the many easy tokens of an answer (punctuation, words copied from the prompt), so one invented fact is
/// diluted away; the minimum catches it but falls with length (every extra token is another draw), so it would
/// escalate long answers for being long. The 10th percentile reacts to a cluster of unsure tokens while staying
/// comparable between short and long answers. The minimum is still measured (weight 0 by default) for calibration.</para>
/// <para>Monotone by construction: with non-negative weights the score never decreases when a "good" signal rises
/// (quantile, mean log-probability, margin, minimum) and never increases when a "bad" one rises (entropy, prompt
/// perplexity). Thread-safe; immutable after construction.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.ScorerSignals)]
public sealed class DefaultConfidenceScorer : IConfidenceScorer
{
    private const double ProbabilityFloor = 1e-6;

    /// <summary>A scorer with the default weights.</summary>
    public static DefaultConfidenceScorer Instance { get; } = new();

    /// <summary>Intercept of the logistic combination.</summary>
    public double Bias { get; init; } = 1.0;

    /// <summary>Weight of <c>logit(P10TokenProbability)</c>; non-negative.</summary>
    public double QuantileWeight { get; init; } = 1.0;

    /// <summary>Weight of the mean log-probability; non-negative.</summary>
    public double MeanLogProbWeight { get; init; } = 1.5;

    /// <summary>Weight subtracted per nat of mean entropy; non-negative.</summary>
    public double EntropyWeight { get; init; } = 0.75;

    /// <summary>Weight of the mean top-1/top-2 margin; non-negative.</summary>
    public double MarginWeight { get; init; } = 1.0;

    /// <summary>Weight of <c>logit(MinTokenProbability)</c>; non-negative (0 by default, see remarks).</summary>
    public double MinProbabilityWeight { get; init; }

    /// <summary>Weight subtracted per nat of log prompt perplexity; non-negative.</summary>
    public double PromptPerplexityWeight { get; init; } = 1.0;

    /// <inheritdoc />
    public double Score(ConfidenceSignals signals)
    {
        ArgumentNullException.ThrowIfNull(signals);
        if (signals.TokenCount == 0)
        {
            return 0;
        }

        double z = Bias
            + (QuantileWeight * Logit(signals.P10TokenProbability))
            + (MeanLogProbWeight * signals.MeanLogProbability)
            - (EntropyWeight * signals.MeanEntropy)
            + (MarginWeight * signals.MeanMargin)
            + (MinProbabilityWeight * Logit(signals.MinTokenProbability));
        if (signals.PromptPerplexity is double perplexity && perplexity > 0)
        {
            z -= PromptPerplexityWeight * Math.Log(perplexity);
        }

        return 1.0 / (1.0 + Math.Exp(-z));
    }

    private static double Logit(double p)
    {
        p = Math.Clamp(p, ProbabilityFloor, 1 - ProbabilityFloor);
        return Math.Log(p / (1 - p));
    }
}
