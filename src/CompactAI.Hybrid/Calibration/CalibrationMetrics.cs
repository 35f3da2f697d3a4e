namespace CompactAI.Hybrid.Calibration;

/// <summary>How well scores separate correct from incorrect answers (AUROC) and how honest probabilities are (ECE, Brier).</summary>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public static class CalibrationMetrics
{
    /// <summary>
    /// Area under the ROC curve by the Mann–Whitney statistic: the probability that a random correct item scores
    /// higher than a random incorrect one, ties counting one half. Computed from average ranks in O(n log n).
    /// </summary>
    /// <param name="scores">Scores, higher meaning "more likely correct".</param>
    /// <param name="labels">Whether each item is correct.</param>
    /// <returns>AUROC in [0, 1]; <see cref="double.NaN"/> when one class is absent.</returns>
    public static double Auroc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        CalibrationInput.CheckPaired(scores, labels, nameof(scores), nameof(labels));
        int n = scores.Count;
        int positives = labels.Count(l => l);
        int negatives = n - positives;
        if (positives == 0 || negatives == 0)
        {
            return double.NaN;
        }

        int[] order = [.. Enumerable.Range(0, n).OrderBy(i => scores[i])];
        double positiveRankSum = 0;
        int start = 0;
        while (start < n)
        {
            int end = start;
            while (end + 1 < n && scores[order[end + 1]] == scores[order[start]])
            {
                end++;
            }

            // Ranks are 1-based; tied items share the mean of their ranks.
            double averageRank = ((start + 1) + (end + 1)) / 2.0;
            for (int i = start; i <= end; i++)
            {
                if (labels[order[i]])
                {
                    positiveRankSum += averageRank;
                }
            }

            start = end + 1;
        }

        double u = positiveRankSum - (positives * (positives + 1) / 2.0);
        return u / ((double)positives * negatives);
    }

    /// <summary>
    /// Expected calibration error over equal-width bins: <c>Σ_b (n_b / N) · |mean(p in b) − accuracy(b)|</c>.
    /// Bin <c>b</c> holds probabilities in <c>[b/B, (b+1)/B)</c>, the last bin also holding 1.
    /// </summary>
    /// <param name="probabilities">Predicted probabilities of being correct.</param>
    /// <param name="labels">Whether each item is correct.</param>
    /// <param name="bins">Number of bins; default 10.</param>
    /// <returns>ECE in [0, 1]; 0 for an empty set.</returns>
    public static double ExpectedCalibrationError(IReadOnlyList<double> probabilities, IReadOnlyList<bool> labels, int bins = 10)
    {
        CalibrationInput.CheckPaired(probabilities, labels, nameof(probabilities), nameof(labels));
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        if (probabilities.Count == 0)
        {
            return 0;
        }

        var sumProbability = new double[bins];
        var sumCorrect = new double[bins];
        var count = new int[bins];
        for (int i = 0; i < probabilities.Count; i++)
        {
            double p = Math.Clamp(probabilities[i], 0, 1);
            int bin = Math.Min((int)(p * bins), bins - 1);
            sumProbability[bin] += p;
            sumCorrect[bin] += labels[i] ? 1 : 0;
            count[bin]++;
        }

        double ece = 0;
        for (int b = 0; b < bins; b++)
        {
            if (count[b] > 0)
            {
                ece += (double)count[b] / probabilities.Count * Math.Abs((sumProbability[b] - sumCorrect[b]) / count[b]);
            }
        }

        return ece;
    }

    /// <summary>Brier score: the mean of <c>(p − y)²</c> with <c>y</c> 1 for correct and 0 otherwise.</summary>
    /// <param name="probabilities">Predicted probabilities of being correct.</param>
    /// <param name="labels">Whether each item is correct.</param>
    /// <returns>Brier score in [0, 1]; 0 for an empty set.</returns>
    public static double BrierScore(IReadOnlyList<double> probabilities, IReadOnlyList<bool> labels)
    {
        CalibrationInput.CheckPaired(probabilities, labels, nameof(probabilities), nameof(labels));
        if (probabilities.Count == 0)
        {
            return 0;
        }

        double sum = 0;
        for (int i = 0; i < probabilities.Count; i++)
        {
            double error = probabilities[i] - (labels[i] ? 1 : 0);
            sum += error * error;
        }

        return sum / probabilities.Count;
    }
}
