namespace CompactAI.Hybrid.Calibration;

/// <summary>A fitted, monotone non-decreasing map from raw score to calibrated probability.</summary>
/// <remarks>Immutable and thread-safe.</remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public interface ICalibrationMap
{
    /// <summary>The method that produced the map.</summary>
    CalibrationMethod Method { get; }

    /// <summary>Maps a raw score to a probability in [0, 1].</summary>
    /// <param name="score">The raw score.</param>
    /// <returns>The calibrated probability.</returns>
    double Calibrate(double score);
}
