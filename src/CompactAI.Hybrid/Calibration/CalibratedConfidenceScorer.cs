namespace CompactAI.Hybrid.Calibration;

/// <summary>A raw scorer followed by a calibration map, so the router's threshold reads as a probability of being correct.</summary>
/// <remarks>Thread-safe when the raw scorer is.</remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public sealed class CalibratedConfidenceScorer : IConfidenceScorer
{
    private readonly IConfidenceScorer _raw;
    private readonly ICalibrationMap _map;

    /// <summary>Creates the scorer.</summary>
    /// <param name="raw">The scorer the map was fitted on.</param>
    /// <param name="map">The fitted map.</param>
    public CalibratedConfidenceScorer(IConfidenceScorer raw, ICalibrationMap map)
    {
        ArgumentNullException.ThrowIfNull(raw);
        ArgumentNullException.ThrowIfNull(map);
        _raw = raw;
        _map = map;
    }

    /// <inheritdoc />
    public double Score(ConfidenceSignals signals) => Math.Clamp(_map.Calibrate(_raw.Score(signals)), 0, 1);
}
