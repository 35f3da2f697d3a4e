namespace CompactAI.Hybrid.Calibration;

/// <summary>A fitted threshold and what it does on the fitting set.</summary>
/// <param name="Threshold">Confidences strictly below this escalate.</param>
/// <param name="EscalationRate">Share of the set that escalates at this threshold.</param>
/// <param name="Quality">Simulated cascade quality, when correctness labels were given; NaN otherwise.</param>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public readonly record struct ThresholdChoice(double Threshold, double EscalationRate, double Quality);
