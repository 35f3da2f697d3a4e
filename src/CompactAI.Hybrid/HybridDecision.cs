namespace CompactAI.Hybrid;

/// <summary>
/// The record of how one request was routed, attached to every hybrid response under
/// <see cref="CompactAIPropertyNames.HybridDecision"/> (on the final update when streaming).
/// </summary>
public sealed record HybridDecision
{
    /// <summary>Where the answer came from.</summary>
    public required HybridRoute Route { get; init; }

    /// <summary>Why escalation was wanted; <see cref="EscalationTrigger.None"/> when it was not.</summary>
    public EscalationTrigger Trigger { get; init; }

    /// <summary>Human-readable reason for the route (includes the remote failure on fallback routes).</summary>
    public required string Reason { get; init; }

    /// <summary>The remote failure that forced a fallback, when there was one (never contains credentials).</summary>
    public string? RemoteError { get; init; }

    /// <summary>Confidence of the local answer, when one was scored.</summary>
    public double? Confidence { get; init; }

    /// <summary>The threshold the confidence was compared with.</summary>
    public double Threshold { get; init; }

    /// <summary>The evidence behind <see cref="Confidence"/>, when a local answer was scored.</summary>
    [System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.ScorerSignals)]
    public ConfidenceSignals? Signals { get; init; }

    /// <summary>Results of the validators that ran on the local answer.</summary>
    public IReadOnlyList<ResponseValidationResult> ValidatorResults { get; init; } = [];

    /// <summary>Wall time spent on local generation (and prompt scoring), when the local model ran.</summary>
    public TimeSpan? LocalLatency { get; init; }

    /// <summary>Wall time spent on remote attempts, including back-off, when the remote model was called.</summary>
    public TimeSpan? RemoteLatency { get; init; }

    /// <summary>Tokens the local model generated, when it ran.</summary>
    public long? LocalOutputTokens { get; init; }

    /// <summary>Prompt tokens the remote model reported, when it replied.</summary>
    public long? RemoteInputTokens { get; init; }

    /// <summary>Completion tokens the remote model reported, when it replied.</summary>
    public long? RemoteOutputTokens { get; init; }

    /// <summary>HTTP-level attempts made on the remote model (0 when it was not called).</summary>
    public int RemoteAttempts { get; init; }

    /// <summary>Whether escalation was wanted for this request.</summary>
    public bool Escalated => Trigger != EscalationTrigger.None;

    /// <summary>
    /// Whether the returned answer is a local one that did not pass verification (fallback, budget, open circuit,
    /// or streamed before its checks failed). Callers that need verified answers should check this flag.
    /// </summary>
    public bool IsUnverified => Route is HybridRoute.LocalFallback or HybridRoute.LocalBudget
        or HybridRoute.LocalCircuitOpen or HybridRoute.LocalStreamedUnverified or HybridRoute.RemoteIncomplete;
}
