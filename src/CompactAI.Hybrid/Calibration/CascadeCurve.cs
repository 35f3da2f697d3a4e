namespace CompactAI.Hybrid.Calibration;

/// <summary>
/// RouteLLM-style evaluation of a confidence router. For every escalation count <c>k = 0..N</c> the cascade sends the
/// <c>k</c> least confident items to the remote model and keeps the rest local; its quality is the share answered
/// correctly given per-item local-correct and remote-correct labels. The curve is compared with random escalation
/// (expected quality, a straight line) and the oracle (escalates first the items only the remote model gets right,
/// last those only the local model gets right).
/// </summary>
/// <remarks>
/// APGR, the average performance gap recovered, is the area under gap-recovered against escalation rate, by the
/// trapezoid rule over the N+1 points (exact for the piecewise-linear curve). Random escalation scores exactly 0.5;
/// the oracle scores <c>1 − g/2</c> where <c>g</c> is the share of items only the remote model answers correctly
/// (plus the area above 1 when some items only the local model answers correctly), so it tends to 1 when the gap is
/// carried by few items. Ties in confidence are broken by input order.
/// </remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public sealed class CascadeCurve
{
    private CascadeCurve(
        double localQuality, double remoteQuality,
        CascadeCurvePoint[] router, CascadeCurvePoint[] random, CascadeCurvePoint[] oracle)
    {
        LocalQuality = localQuality;
        RemoteQuality = remoteQuality;
        Router = router;
        Random = random;
        Oracle = oracle;
    }

    /// <summary>Quality with nothing escalated.</summary>
    public double LocalQuality { get; }

    /// <summary>Quality with everything escalated.</summary>
    public double RemoteQuality { get; }

    /// <summary>The router's curve, N+1 points from escalation rate 0 to 1.</summary>
    public IReadOnlyList<CascadeCurvePoint> Router { get; }

    /// <summary>Expected curve of random escalation.</summary>
    public IReadOnlyList<CascadeCurvePoint> Random { get; }

    /// <summary>The oracle's curve.</summary>
    public IReadOnlyList<CascadeCurvePoint> Oracle { get; }

    /// <summary>APGR of the router.</summary>
    public double RouterApgr => Apgr(Router);

    /// <summary>APGR of random escalation (0.5 whenever the gap is defined).</summary>
    public double RandomApgr => Apgr(Random);

    /// <summary>APGR of the oracle.</summary>
    public double OracleApgr => Apgr(Oracle);

    /// <summary>Smallest escalation rate at which the router recovers 50% of the gap (NaN if never).</summary>
    public double RouterCallsFor50PercentGap => CallsFor(Router, 0.5);

    /// <summary>Smallest escalation rate at which the router recovers 80% of the gap (NaN if never).</summary>
    public double RouterCallsFor80PercentGap => CallsFor(Router, 0.8);

    /// <summary>Computes the curves.</summary>
    /// <param name="confidences">Router confidence per item; lower escalates first.</param>
    /// <param name="localCorrect">Whether the local answer to each item is correct.</param>
    /// <param name="remoteCorrect">Whether the remote answer to each item is correct.</param>
    /// <returns>The curves.</returns>
    public static CascadeCurve Compute(IReadOnlyList<double> confidences, IReadOnlyList<bool> localCorrect, IReadOnlyList<bool> remoteCorrect)
    {
        CalibrationInput.CheckPaired(confidences, localCorrect, nameof(confidences), nameof(localCorrect));
        CalibrationInput.CheckPaired(confidences, remoteCorrect, nameof(confidences), nameof(remoteCorrect));
        int n = confidences.Count;
        if (n == 0)
        {
            throw new ArgumentException("A cascade curve needs at least one item.", nameof(confidences));
        }

        int localCount = localCorrect.Count(c => c);
        int remoteCount = remoteCorrect.Count(c => c);
        int[] routerOrder = [.. Enumerable.Range(0, n).OrderBy(i => confidences[i])];
        int[] oracleOrder = [.. Enumerable.Range(0, n).OrderByDescending(i => Gain(localCorrect, remoteCorrect, i))];
        var random = new CascadeCurvePoint[n + 1];
        for (int k = 0; k <= n; k++)
        {
            // Expected quality of k random escalations: a straight line, so the gap recovered is the rate itself.
            double rate = (double)k / n;
            double quality = ((localCount * (double)(n - k)) + (remoteCount * (double)k)) / ((double)n * n);
            random[k] = new CascadeCurvePoint(rate, quality, remoteCount == localCount ? double.NaN : rate);
        }

        return new CascadeCurve(
            (double)localCount / n, (double)remoteCount / n,
            Curve(routerOrder, localCorrect, remoteCorrect, localCount, remoteCount),
            random,
            Curve(oracleOrder, localCorrect, remoteCorrect, localCount, remoteCount));
    }

    /// <summary>Area under gap-recovered against escalation rate (trapezoid rule).</summary>
    /// <param name="curve">A curve from rate 0 to 1.</param>
    /// <returns>APGR; NaN when the gap is undefined.</returns>
    public static double Apgr(IReadOnlyList<CascadeCurvePoint> curve)
    {
        ArgumentNullException.ThrowIfNull(curve);
        double area = 0;
        for (int i = 1; i < curve.Count; i++)
        {
            double width = curve[i].EscalationRate - curve[i - 1].EscalationRate;
            area += width * (curve[i].GapRecovered + curve[i - 1].GapRecovered) / 2;
        }

        return area;
    }

    /// <summary>Smallest escalation rate whose gap recovered reaches <paramref name="fraction"/>.</summary>
    /// <param name="curve">A curve from rate 0 to 1.</param>
    /// <param name="fraction">Share of the gap, e.g. 0.5.</param>
    /// <returns>The rate; NaN if never reached.</returns>
    public static double CallsFor(IReadOnlyList<CascadeCurvePoint> curve, double fraction)
    {
        ArgumentNullException.ThrowIfNull(curve);
        foreach (CascadeCurvePoint point in curve)
        {
            if (point.GapRecovered >= fraction)
            {
                return point.EscalationRate;
            }
        }

        return double.NaN;
    }

    /// <summary>Correct answers of the cascade after escalating the first k items of <paramref name="order"/>, for k = 0..N.</summary>
    internal static int[] CorrectCounts(int[] order, IReadOnlyList<bool> localCorrect, IReadOnlyList<bool> remoteCorrect)
    {
        int n = order.Length;
        var counts = new int[n + 1];
        counts[0] = localCorrect.Count(c => c);
        for (int k = 1; k <= n; k++)
        {
            counts[k] = counts[k - 1] + Gain(localCorrect, remoteCorrect, order[k - 1]);
        }

        return counts;
    }

    private static CascadeCurvePoint[] Curve(
        int[] order, IReadOnlyList<bool> localCorrect, IReadOnlyList<bool> remoteCorrect, int localCount, int remoteCount)
    {
        // Integer counts keep the gap ratio exact, so "reaches 50%" is not lost to rounding.
        int[] counts = CorrectCounts(order, localCorrect, remoteCorrect);
        int n = order.Length;
        var curve = new CascadeCurvePoint[counts.Length];
        for (int k = 0; k < counts.Length; k++)
        {
            double gap = remoteCount == localCount ? double.NaN : (double)(counts[k] - localCount) / (remoteCount - localCount);
            curve[k] = new CascadeCurvePoint((double)k / n, (double)counts[k] / n, gap);
        }

        return curve;
    }

    private static int Gain(IReadOnlyList<bool> localCorrect, IReadOnlyList<bool> remoteCorrect, int item) =>
        (remoteCorrect[item] ? 1 : 0) - (localCorrect[item] ? 1 : 0);
}
