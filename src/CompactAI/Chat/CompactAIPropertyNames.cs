namespace CompactAI;

/// <summary>
/// The keys under which CompactAI clients exchange evidence through <c>AdditionalProperties</c> of
/// <see cref="Microsoft.Extensions.AI.ChatResponse"/>, <see cref="Microsoft.Extensions.AI.ChatResponseUpdate"/> and
/// <see cref="Microsoft.Extensions.AI.ChatOptions"/>. One place, so producers and consumers cannot drift apart.
/// </summary>
public static class CompactAIPropertyNames
{
    /// <summary>On a <c>ChatResponse</c>: the generated tokens, an <c>IReadOnlyList&lt;GeneratedToken&gt;</c>.</summary>
    public const string Tokens = "compactai.tokens";

    /// <summary>On a <c>ChatResponseUpdate</c>: the one <c>GeneratedToken</c> this update carries.</summary>
    public const string Token = "compactai.token";

    /// <summary>
    /// On a <c>ChatResponseUpdate</c> of a request with tools: the <c>GeneratedToken</c>s (an array) whose text or call this update
    /// carries (text that may start a tool call is held back, so one update can cover several tokens).
    /// </summary>
    public const string UpdateTokens = "compactai.update_tokens";

    /// <summary>
    /// On <c>ChatOptions</c>: <c>true</c> asks for log-probabilities (OpenAI's <c>logprobs</c>). Every generated token always
    /// carries its own (<see cref="Inference.GeneratedToken.LogProbability"/>); <c>false</c> turns <see cref="TopLogProbs"/> off.
    /// </summary>
    public const string LogProbs = "logprobs";

    /// <summary>
    /// On <c>ChatOptions</c>: an <c>int</c> 0–20, how many most likely alternatives each token reports in
    /// <see cref="Inference.GeneratedToken.TopLogProbabilities"/> (OpenAI's <c>top_logprobs</c>).
    /// </summary>
    public const string TopLogProbs = "top_logprobs";

    /// <summary>On a <c>ChatResponse</c> or final update: why generation stopped, one of <c>"stop"</c>, <c>"length"</c>, <c>"tool_calls"</c>, <c>"cancelled"</c>.</summary>
    public const string FinishReason = "compactai.finish";

    /// <summary>On a <c>ChatResponse</c>: log-probabilities of each prompt token after the first, an <c>IReadOnlyList&lt;float&gt;</c>.</summary>
    public const string PromptLogProbabilities = "compactai.prompt_logprobs";

    /// <summary>On <c>ChatOptions</c>, read by the hybrid router (package CompactAI.Hybrid): per-request routing override, <c>"local"</c>, <c>"remote"</c> or <c>"auto"</c>.</summary>
    public const string Route = "compactai.route";

    /// <summary>On a <c>ChatResponse</c> or the final update of a hybrid stream: the <c>CompactAI.Hybrid.HybridDecision</c> (package CompactAI.Hybrid).</summary>
    public const string HybridDecision = "compactai.hybrid.decision";

    /// <summary>The <see cref="FinishReason"/> value for an answer cut at the token limit.</summary>
    public const string FinishLength = "length";

    /// <summary>The <see cref="FinishReason"/> value for an answer that reached a stop condition.</summary>
    public const string FinishStop = "stop";

    /// <summary>The <see cref="FinishReason"/> value for generation cancelled by the caller.</summary>
    public const string FinishCancelled = "cancelled";

    /// <summary>The <see cref="FinishReason"/> value for an answer that is (or ends with) tool calls.</summary>
    public const string FinishToolCalls = "tool_calls";
}
