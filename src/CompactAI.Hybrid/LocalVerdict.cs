namespace CompactAI.Hybrid;

/// <summary>The policy's judgement of a local answer.</summary>
internal sealed record LocalVerdict(
    EscalationTrigger Trigger,
    string Reason,
    double Confidence,
    ConfidenceSignals Signals,
    IReadOnlyList<ResponseValidationResult> ValidatorResults);
