namespace CompactAI.Hybrid;

/// <summary>Where a hybrid answer came from, and whether it was verified.</summary>
public enum HybridRoute
{
    /// <summary>The local answer, committed after the confidence and validator checks passed (or forced local).</summary>
    Local,

    /// <summary>The remote answer: the request was escalated and the remote model replied.</summary>
    Remote,

    /// <summary>Escalation was wanted but the remote call failed (timeout, error, malformed or dropped reply); the local answer is returned unverified.</summary>
    LocalFallback,

    /// <summary>Escalation was wanted but the remote-call budget was spent; the local answer is returned unverified.</summary>
    LocalBudget,

    /// <summary>Escalation was wanted but the circuit breaker was open; the local answer is returned unverified.</summary>
    LocalCircuitOpen,

    /// <summary>Stream-then-verify mode: the local answer already reached the caller when the checks failed, so it stands unverified.</summary>
    LocalStreamedUnverified,

    /// <summary>A remote stream broke after updates had reached the caller; the answer is partial (no switch is allowed after the first update).</summary>
    RemoteIncomplete,
}
