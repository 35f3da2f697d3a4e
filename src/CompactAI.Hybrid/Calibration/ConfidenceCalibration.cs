namespace CompactAI.Hybrid.Calibration;

/// <summary>
/// Fits a calibration from raw confidence scores and correctness labels, chooses the threshold, and measures the fit.
/// </summary>
/// <remarks>
/// The method is chosen by set size: below <see cref="IsotonicMinimumSamples"/> items, Platt scaling (two
/// parameters, cannot overfit, assumes a sigmoid shape); from there on, isotonic regression (no shape assumption, but
/// one free value per block, so on small sets it memorises noise). Niculescu-Mizil and Caruana (2005) found isotonic
/// overtakes Platt somewhere between a few hundred and a thousand items; 200 is a conservative start.
/// </remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public static class ConfidenceCalibration
{
    /// <summary>Smallest set for which <see cref="ChooseMethod"/> picks isotonic regression.</summary>
    public const int IsotonicMinimumSamples = 200;

    /// <summary>The method used for a set of the given size.</summary>
    /// <param name="sampleCount">Items in the calibration set.</param>
    /// <returns><see cref="CalibrationMethod.Platt"/> below <see cref="IsotonicMinimumSamples"/>, else <see cref="CalibrationMethod.Isotonic"/>.</returns>
    public static CalibrationMethod ChooseMethod(int sampleCount) =>
        sampleCount < IsotonicMinimumSamples ? CalibrationMethod.Platt : CalibrationMethod.Isotonic;

    /// <summary>Fits a map with the given method (or the one <see cref="ChooseMethod"/> picks).</summary>
    /// <param name="scores">Raw scores.</param>
    /// <param name="localCorrect">Whether each local answer was correct.</param>
    /// <param name="method">Method; <see langword="null"/> chooses by size.</param>
    /// <returns>The map.</returns>
    public static ICalibrationMap FitMap(IReadOnlyList<double> scores, IReadOnlyList<bool> localCorrect, CalibrationMethod? method = null) =>
        (method ?? ChooseMethod(scores.Count)) switch
        {
            CalibrationMethod.Platt => PlattScaling.Fit(scores, localCorrect),
            _ => IsotonicCalibration.Fit(scores, localCorrect),
        };

    /// <summary>Calibrates and sets the threshold to escalate a target share of requests.</summary>
    /// <param name="modelFingerprint">Identifies the model the scores came from.</param>
    /// <param name="scores">Raw scores from the scorer in use.</param>
    /// <param name="localCorrect">Whether each local answer was correct.</param>
    /// <param name="targetEscalationRate">Wanted share of escalations, in [0, 1].</param>
    /// <param name="method">Method; <see langword="null"/> chooses by size.</param>
    /// <returns>The result, ready to serialize.</returns>
    public static CalibrationResult FitForEscalationRate(
        string modelFingerprint, IReadOnlyList<double> scores, IReadOnlyList<bool> localCorrect, double targetEscalationRate,
        CalibrationMethod? method = null)
    {
        ICalibrationMap map = FitMap(scores, localCorrect, method);
        double[] calibrated = [.. scores.Select(map.Calibrate)];
        ThresholdChoice choice = ThresholdFitting.ForEscalationRate(calibrated, targetEscalationRate);
        return Describe(modelFingerprint, map, scores, calibrated, localCorrect, choice);
    }

    /// <summary>
    /// Calibrates and sets the threshold to the smallest escalation rate whose simulated cascade reaches
    /// <paramref name="targetFractionOfRemote"/> of always-remote quality.
    /// </summary>
    /// <param name="modelFingerprint">Identifies the model the scores came from.</param>
    /// <param name="scores">Raw scores from the scorer in use.</param>
    /// <param name="localCorrect">Whether each local answer was correct.</param>
    /// <param name="remoteCorrect">Whether each remote answer was correct.</param>
    /// <param name="targetFractionOfRemote">Wanted quality as a share of always-remote quality, e.g. 0.95.</param>
    /// <param name="method">Method; <see langword="null"/> chooses by size.</param>
    /// <returns>The result, ready to serialize.</returns>
    public static CalibrationResult FitForQualityTarget(
        string modelFingerprint, IReadOnlyList<double> scores, IReadOnlyList<bool> localCorrect, IReadOnlyList<bool> remoteCorrect,
        double targetFractionOfRemote, CalibrationMethod? method = null)
    {
        ICalibrationMap map = FitMap(scores, localCorrect, method);
        double[] calibrated = [.. scores.Select(map.Calibrate)];
        ThresholdChoice choice = ThresholdFitting.ForQualityTarget(calibrated, localCorrect, remoteCorrect, targetFractionOfRemote);
        return Describe(modelFingerprint, map, scores, calibrated, localCorrect, choice);
    }

    private static CalibrationResult Describe(
        string modelFingerprint, ICalibrationMap map, IReadOnlyList<double> scores, double[] calibrated,
        IReadOnlyList<bool> localCorrect, ThresholdChoice choice)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelFingerprint);
        return new CalibrationResult
        {
            ModelFingerprint = modelFingerprint,
            Method = map.Method,
            PlattA = (map as PlattScaling)?.A,
            PlattB = (map as PlattScaling)?.B,
            IsotonicBlocks = (map as IsotonicCalibration)?.Blocks,
            Threshold = choice.Threshold,
            EscalationRate = choice.EscalationRate,
            SampleCount = scores.Count,
            Auroc = CalibrationMetrics.Auroc(scores, localCorrect),
            ExpectedCalibrationError = CalibrationMetrics.ExpectedCalibrationError(calibrated, localCorrect),
            BrierScore = CalibrationMetrics.BrierScore(calibrated, localCorrect),
            CreatedAt = DateTimeOffset.UtcNow,
        };
    }
}
