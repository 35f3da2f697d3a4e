namespace CompactAI.Hybrid;

/// <summary>
/// Diagnostic ids of the APIs of this package marked <see cref="System.Diagnostics.CodeAnalysis.ExperimentalAttribute"/>:
/// they may change in a minor release. Suppress the id (<c>&lt;NoWarn&gt;</c> or <c>#pragma warning disable</c>) to use them.
/// </summary>
public static class HybridDiagnosticIds
{
    /// <summary><c>CAIHYB001</c>: calibration (<c>CompactAI.Hybrid.Calibration</c>: Platt, isotonic, metrics, threshold fitting, cascade curves).</summary>
    public const string Calibration = "CAIHYB001";

    /// <summary><c>CAIHYB002</c>: the confidence signals and scorers (<see cref="ConfidenceSignals"/>, <see cref="IConfidenceScorer"/>, <see cref="DefaultConfidenceScorer"/>, <see cref="ConfidenceProbe"/>).</summary>
    public const string ScorerSignals = "CAIHYB002";
}
