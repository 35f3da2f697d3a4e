namespace CompactAI.Hybrid.Calibration;

/// <summary>How raw confidence scores are mapped to probabilities of the local answer being correct.</summary>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public enum CalibrationMethod
{
    /// <summary>Platt scaling: a logistic curve <c>σ(A·s + B)</c>; two parameters, stable on small sets.</summary>
    Platt,

    /// <summary>Isotonic regression: the best monotone step function (pool adjacent violators); flexible, needs more data.</summary>
    Isotonic,
}
