namespace CompactAI.Hybrid.Calibration;

/// <summary>One point of a cascade curve.</summary>
/// <param name="EscalationRate">Share of items sent to the remote model, in [0, 1].</param>
/// <param name="Quality">Share of items answered correctly by the cascade.</param>
/// <param name="GapRecovered">
/// Performance gap recovered, <c>(Quality − local quality) / (remote quality − local quality)</c>; NaN when the models tie.
/// </param>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public readonly record struct CascadeCurvePoint(double EscalationRate, double Quality, double GapRecovered);
