namespace CompactAI.Hybrid.Calibration;

/// <summary>Chooses <see cref="HybridOptions.ConfidenceThreshold"/> from a labelled or unlabelled set of confidences.</summary>
/// <remarks>
/// A threshold escalates the confidences strictly below it. Between the k-th and (k+1)-th smallest confidence the
/// midpoint is used, so unseen values near the boundary split evenly; with tied confidences at the boundary the rate
/// hit is the nearest one the ties allow.
/// </remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public static class ThresholdFitting
{
    /// <summary>The confidence quantile that escalates the target share of requests.</summary>
    /// <param name="confidences">Confidences of a representative set.</param>
    /// <param name="targetEscalationRate">Wanted share of escalations, in [0, 1].</param>
    /// <returns>The threshold and the rate it achieves on the set.</returns>
    public static ThresholdChoice ForEscalationRate(IReadOnlyList<double> confidences, double targetEscalationRate)
    {
        ArgumentNullException.ThrowIfNull(confidences);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetEscalationRate, 0.0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(targetEscalationRate, 1.0);
        if (confidences.Count == 0)
        {
            throw new ArgumentException("Threshold fitting needs at least one confidence.", nameof(confidences));
        }

        double[] sorted = [.. confidences.Order()];
        int k = (int)Math.Round(targetEscalationRate * sorted.Length, MidpointRounding.AwayFromZero);
        double threshold = ThresholdForCount(sorted, k);
        return new ThresholdChoice(threshold, EscalationRateAt(sorted, threshold), double.NaN);
    }

    /// <summary>
    /// The smallest escalation rate whose simulated cascade reaches <paramref name="targetFractionOfRemote"/> of
    /// always-remote quality (e.g. 0.95 for 95%).
    /// </summary>
    /// <param name="confidences">Router confidence per item.</param>
    /// <param name="localCorrect">Whether the local answer to each item is correct.</param>
    /// <param name="remoteCorrect">Whether the remote answer to each item is correct.</param>
    /// <param name="targetFractionOfRemote">Wanted quality as a share of always-remote quality.</param>
    /// <returns>The threshold, its escalation rate and the cascade quality there.</returns>
    public static ThresholdChoice ForQualityTarget(
        IReadOnlyList<double> confidences, IReadOnlyList<bool> localCorrect, IReadOnlyList<bool> remoteCorrect, double targetFractionOfRemote)
    {
        CalibrationInput.CheckPaired(confidences, localCorrect, nameof(confidences), nameof(localCorrect));
        CalibrationInput.CheckPaired(confidences, remoteCorrect, nameof(confidences), nameof(remoteCorrect));
        ArgumentOutOfRangeException.ThrowIfNegative(targetFractionOfRemote);
        if (confidences.Count == 0)
        {
            throw new ArgumentException("Threshold fitting needs at least one confidence.", nameof(confidences));
        }

        int n = confidences.Count;
        int[] order = [.. Enumerable.Range(0, n).OrderBy(i => confidences[i])];
        int[] counts = CascadeCurve.CorrectCounts(order, localCorrect, remoteCorrect);
        double goal = targetFractionOfRemote * counts[n];
        int k = n;
        for (int i = 0; i <= n; i++)
        {
            if (counts[i] >= goal - 1e-9)
            {
                k = i;
                break;
            }
        }

        double[] sorted = [.. order.Select(i => confidences[i])];
        double threshold = ThresholdForCount(sorted, k);
        return new ThresholdChoice(threshold, EscalationRateAt(sorted, threshold), (double)counts[k] / n);
    }

    private static double ThresholdForCount(double[] sorted, int k)
    {
        if (k <= 0)
        {
            return sorted[0];
        }

        if (k >= sorted.Length)
        {
            return Math.BitIncrement(sorted[^1]);
        }

        double below = sorted[k - 1], above = sorted[k];
        return below == above ? above : below + ((above - below) / 2);
    }

    private static double EscalationRateAt(double[] sorted, double threshold)
    {
        int below = 0;
        while (below < sorted.Length && sorted[below] < threshold)
        {
            below++;
        }

        return (double)below / sorted.Length;
    }
}
