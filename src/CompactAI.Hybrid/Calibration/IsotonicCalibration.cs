namespace CompactAI.Hybrid.Calibration;

/// <summary>One constant piece of an isotonic fit: items with scores in [<see cref="MinScore"/>, <see cref="MaxScore"/>] share <see cref="Value"/>.</summary>
/// <param name="MinScore">Smallest score pooled into the block.</param>
/// <param name="MaxScore">Largest score pooled into the block.</param>
/// <param name="Value">Weighted mean target of the block: the calibrated probability.</param>
/// <param name="Weight">Total weight (item count when unweighted).</param>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public sealed record IsotonicBlock(double MinScore, double MaxScore, double Value, double Weight);

/// <summary>
/// Isotonic regression: the non-decreasing step function closest in weighted squared error to the targets, fitted by
/// pool adjacent violators (PAV) in O(n log n) (the sort) + O(n). Between blocks the map interpolates linearly from one
/// block's largest score to the next block's smallest; outside the fitted range it is clamped.
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public sealed class IsotonicCalibration : ICalibrationMap
{
    private readonly IsotonicBlock[] _blocks;

    /// <summary>Creates a map from fitted blocks (as stored in a <see cref="CalibrationResult"/>).</summary>
    /// <param name="blocks">Blocks in increasing score order with non-decreasing values.</param>
    public IsotonicCalibration(IReadOnlyList<IsotonicBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.Count == 0)
        {
            throw new ArgumentException("An isotonic map needs at least one block.", nameof(blocks));
        }

        for (int i = 1; i < blocks.Count; i++)
        {
            if (blocks[i].MinScore < blocks[i - 1].MaxScore || blocks[i].Value < blocks[i - 1].Value)
            {
                throw new ArgumentException($"Block {i} breaks the increasing score / non-decreasing value order.", nameof(blocks));
            }
        }

        _blocks = [.. blocks];
    }

    /// <summary>The fitted blocks, in increasing score order.</summary>
    public IReadOnlyList<IsotonicBlock> Blocks => _blocks;

    /// <inheritdoc />
    public CalibrationMethod Method => CalibrationMethod.Isotonic;

    /// <inheritdoc />
    public double Calibrate(double score)
    {
        if (score <= _blocks[0].MaxScore)
        {
            return _blocks[0].Value;
        }

        // The first block whose largest score is at least the query.
        int lo = 1, hi = _blocks.Length - 1;
        if (score >= _blocks[hi].MinScore)
        {
            return _blocks[hi].Value;
        }

        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (_blocks[mid].MaxScore < score)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        IsotonicBlock block = _blocks[lo];
        if (score >= block.MinScore)
        {
            return block.Value;
        }

        IsotonicBlock previous = _blocks[lo - 1];
        double t = (score - previous.MaxScore) / (block.MinScore - previous.MaxScore);
        return previous.Value + (t * (block.Value - previous.Value));
    }

    /// <summary>Fits to correctness labels.</summary>
    /// <param name="scores">Raw scores.</param>
    /// <param name="labels">Whether each item's local answer was correct.</param>
    /// <returns>The fitted map.</returns>
    public static IsotonicCalibration Fit(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        CalibrationInput.CheckPaired(scores, labels, nameof(scores), nameof(labels));
        return Fit(scores, [.. labels.Select(l => l ? 1.0 : 0.0)]);
    }

    /// <summary>Fits to real-valued targets with unit weights.</summary>
    /// <param name="scores">Raw scores.</param>
    /// <param name="targets">Targets to approximate.</param>
    /// <returns>The fitted map.</returns>
    public static IsotonicCalibration Fit(IReadOnlyList<double> scores, IReadOnlyList<double> targets)
    {
        CalibrationInput.CheckPaired(scores, targets, nameof(scores), nameof(targets));
        CalibrationInput.CheckFinite(scores, nameof(scores));
        if (scores.Count == 0)
        {
            throw new ArgumentException("Calibration needs at least one item.", nameof(scores));
        }

        int[] order = [.. Enumerable.Range(0, scores.Count).OrderBy(i => scores[i])];
        var stack = new List<(double Min, double Max, double SumY, double Weight)>(scores.Count);
        int k = 0;
        while (k < order.Length)
        {
            // Equal scores must share one value, so they enter as one pre-pooled block.
            double score = scores[order[k]];
            double sum = 0, weight = 0;
            while (k < order.Length && scores[order[k]] == score)
            {
                sum += targets[order[k]];
                weight++;
                k++;
            }

            var block = (Min: score, Max: score, SumY: sum, Weight: weight);
            while (stack.Count > 0 && stack[^1].SumY / stack[^1].Weight >= block.SumY / block.Weight)
            {
                // Adjacent violator (or tie): pool, which keeps the blocks as few as the fit allows.
                var top = stack[^1];
                stack.RemoveAt(stack.Count - 1);
                block = (top.Min, block.Max, top.SumY + block.SumY, top.Weight + block.Weight);
            }

            stack.Add(block);
        }

        return new IsotonicCalibration([.. stack.Select(b => new IsotonicBlock(b.Min, b.Max, b.SumY / b.Weight, b.Weight))]);
    }
}
