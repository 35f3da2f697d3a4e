namespace CompactAI.Hybrid;

/// <summary>Why the router wanted the remote model for a request.</summary>
public enum EscalationTrigger
{
    /// <summary>No escalation was wanted.</summary>
    None,

    /// <summary>The confidence was below the threshold.</summary>
    LowConfidence,

    /// <summary>Early exit: the running confidence fell below the threshold mid-generation and the local stream was cancelled.</summary>
    EarlyExit,

    /// <summary>The local answer was cut at the token limit (hard failure).</summary>
    Truncated,

    /// <summary>The local answer was empty (hard failure).</summary>
    EmptyOutput,

    /// <summary>The local answer matched a refusal pattern (hard failure).</summary>
    Refusal,

    /// <summary>A validator rejected the local answer (hard failure).</summary>
    ValidatorFailed,

    /// <summary>The prompt's perplexity under the local model exceeded the gate; no local generation was spent.</summary>
    PromptPerplexity,

    /// <summary>The request asked for the remote model (<c>compactai.route = "remote"</c>).</summary>
    Forced,
}
