namespace CompactAI.Hybrid;

/// <summary>Turns the token-level evidence of one local answer into a confidence in [0, 1].</summary>
/// <remarks>
/// Implementations must be pure and thread-safe: the router calls them concurrently and, with early exit, on every
/// token of a running stream. A higher value must mean "more likely correct"; calibration
/// (<see cref="Calibration.ConfidenceCalibration"/>) maps raw scores to probabilities afterwards.
/// </remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.ScorerSignals)]
public interface IConfidenceScorer
{
    /// <summary>Scores the signals.</summary>
    /// <param name="signals">Evidence from the generated tokens and, when known, the prompt.</param>
    /// <returns>Confidence in [0, 1].</returns>
    double Score(ConfidenceSignals signals);
}
