namespace CompactAI.Hybrid.Calibration;

/// <summary>
/// Platt scaling: <c>P(correct | s) = σ(A·s + B) = 1 / (1 + e^−(A·s+B))</c>, fitted by maximum likelihood with
/// Newton's method (IRLS on one feature plus intercept) and step halving. (Platt's paper writes
/// <c>1/(1+exp(A·s+B))</c>; the sign here makes A positive for a useful score.)
/// </summary>
/// <remarks>
/// Targets use Platt's smoothing, <c>t₊ = (N₊+1)/(N₊+2)</c> for positives and <c>t₋ = 1/(N₋+2)</c> for negatives,
/// which keeps the fit finite on perfectly separated data and vanishes as the set grows. Immutable and thread-safe.
/// </remarks>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public sealed class PlattScaling : ICalibrationMap
{
    private const int MaxIterations = 100;
    private const double Tolerance = 1e-10;

    /// <summary>Creates a map from known parameters.</summary>
    /// <param name="a">Slope.</param>
    /// <param name="b">Intercept.</param>
    public PlattScaling(double a, double b)
    {
        A = a;
        B = b;
    }

    /// <summary>Slope of the logistic curve.</summary>
    public double A { get; }

    /// <summary>Intercept of the logistic curve.</summary>
    public double B { get; }

    /// <inheritdoc />
    public CalibrationMethod Method => CalibrationMethod.Platt;

    /// <inheritdoc />
    public double Calibrate(double score) => Sigmoid((A * score) + B);

    /// <summary>Fits the curve.</summary>
    /// <param name="scores">Raw scores.</param>
    /// <param name="labels">Whether each item's local answer was correct.</param>
    /// <returns>The fitted map.</returns>
    public static PlattScaling Fit(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        CalibrationInput.CheckPaired(scores, labels, nameof(scores), nameof(labels));
        CalibrationInput.CheckFinite(scores, nameof(scores));
        if (scores.Count == 0)
        {
            throw new ArgumentException("Calibration needs at least one item.", nameof(scores));
        }

        int positives = labels.Count(l => l);
        int negatives = labels.Count - positives;
        double targetPositive = (positives + 1.0) / (positives + 2.0);
        double targetNegative = 1.0 / (negatives + 2.0);
        var targets = new double[labels.Count];
        for (int i = 0; i < targets.Length; i++)
        {
            targets[i] = labels[i] ? targetPositive : targetNegative;
        }

        double a = 0;
        double b = Math.Log((positives + 1.0) / (negatives + 1.0));
        double loss = Loss(scores, targets, a, b);
        for (int iteration = 0; iteration < MaxIterations; iteration++)
        {
            // Gradient and Hessian of the cross-entropy; a tiny ridge keeps H invertible when all scores are equal.
            double gA = 0, gB = 0, hAA = 1e-12, hAB = 0, hBB = 1e-12;
            for (int i = 0; i < scores.Count; i++)
            {
                double s = scores[i];
                double p = Sigmoid((a * s) + b);
                double residual = p - targets[i];
                double weight = p * (1 - p);
                gA += residual * s;
                gB += residual;
                hAA += weight * s * s;
                hAB += weight * s;
                hBB += weight;
            }

            double determinant = (hAA * hBB) - (hAB * hAB);
            if (determinant <= 0 || !double.IsFinite(determinant))
            {
                break;
            }

            double stepA = ((hBB * gA) - (hAB * gB)) / determinant;
            double stepB = ((hAA * gB) - (hAB * gA)) / determinant;
            double scale = 1;
            double newLoss;
            do
            {
                newLoss = Loss(scores, targets, a - (scale * stepA), b - (scale * stepB));
                if (newLoss <= loss)
                {
                    break;
                }

                scale /= 2;
            }
            while (scale > 1e-10);

            a -= scale * stepA;
            b -= scale * stepB;
            bool converged = Math.Abs(scale * stepA) + Math.Abs(scale * stepB) < Tolerance || loss - newLoss < Tolerance * Math.Max(1, Math.Abs(loss));
            loss = newLoss;
            if (converged)
            {
                break;
            }
        }

        return new PlattScaling(a, b);
    }

    private static double Loss(IReadOnlyList<double> scores, double[] targets, double a, double b)
    {
        double loss = 0;
        for (int i = 0; i < scores.Count; i++)
        {
            // log(1+e^z) − t·z, written to avoid overflow for large |z|.
            double z = (a * scores[i]) + b;
            double softplus = z > 0 ? z + Math.Log(1 + Math.Exp(-z)) : Math.Log(1 + Math.Exp(z));
            loss += softplus - (targets[i] * z);
        }

        return loss;
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
}
