namespace CompactAI.Hybrid;

/// <summary>How <see cref="HybridChatClient"/> streams.</summary>
public enum HybridStreamingMode
{
    /// <summary>
    /// Only committed text reaches the caller: local tokens are buffered until the answer is committed local
    /// (confidence and validators pass) and then replayed; an escalated answer is buffered until the remote stream
    /// completes, so a dropped remote stream can still fall back to the local answer. The final update carries the decision.
    /// </summary>
    Verified,

    /// <summary>
    /// Latency first: updates are forwarded as they arrive and a final update carries the decision. A local answer
    /// that fails its checks stands (flagged <see cref="HybridRoute.LocalStreamedUnverified"/>), because a switch to
    /// another client is only allowed before the first update reached the caller. Early exit does not apply.
    /// </summary>
    StreamThenVerify,
}
