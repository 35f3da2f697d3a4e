using CompactAI.Inference;
using CompactAI.Sampling;

namespace CompactAI.Hybrid;

/// <summary>The local model's confidence in its answer to one prompt, with the evidence behind it.</summary>
/// <param name="Confidence">The scorer's confidence in [0, 1].</param>
/// <param name="Signals">The signals the confidence was computed from.</param>
/// <param name="Text">The local answer (greedy).</param>
/// <param name="Finish">Why the answer ended.</param>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.ScorerSignals)]
public sealed record ConfidenceReport(double Confidence, ConfidenceSignals Signals, string Text, FinishReason Finish);

/// <summary>
/// Measures how confident a local model is on a raw-text prompt: scores the prompt (its perplexity under the model),
/// generates a greedy answer, and combines the signals with an <see cref="IConfidenceScorer"/>. What
/// <c>compactai confidence</c> and <c>compactai calibrate</c> run, and what calibration sets are built from.
/// </summary>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.ScorerSignals)]
public static class ConfidenceProbe
{
    /// <summary>Measures <paramref name="prompt"/> on <paramref name="session"/> (whose cache it resets).</summary>
    /// <param name="session">A session of the local model.</param>
    /// <param name="prompt">The prompt text (tokenized with the model's BOS).</param>
    /// <param name="maxTokens">Answer length.</param>
    /// <param name="scorer">The scorer (default <see cref="DefaultConfidenceScorer.Instance"/>).</param>
    /// <param name="cancellationToken">Cancels the measurement.</param>
    public static async Task<ConfidenceReport> MeasureAsync(InferenceSession session, string prompt, int maxTokens = 32,
        IConfidenceScorer? scorer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        var tokens = session.Model.Tokenizer.Encode(prompt, addSpecial: true);
        var promptScore = PromptScore.FromLogProbabilities(await session.ScoreAsync(tokens, cancellationToken).ConfigureAwait(false));
        var result = await session.GenerateTextAsync(tokens, new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy },
            cancellationToken).ConfigureAwait(false);
        var signals = ConfidenceSignals.FromTokens(result.Tokens, promptScore.TokenCount > 0 ? promptScore.Perplexity : null);
        return new ConfidenceReport((scorer ?? DefaultConfidenceScorer.Instance).Score(signals), signals, result.Text, result.FinishReason);
    }
}
