using CompactAI.Inference;
using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>What one local run produced: the answer, its tokens, and (when it ran streaming) the updates to replay.</summary>
internal sealed class LocalOutcome
{
    public required ChatResponse Response { get; init; }

    public IReadOnlyList<ChatResponseUpdate>? Updates { get; init; }

    public required IReadOnlyList<GeneratedToken> Tokens { get; init; }

    public string? FinishReason { get; init; }

    public bool EarlyExited { get; init; }

    public double? PromptPerplexity { get; init; }

    public TimeSpan Latency { get; init; }

    /// <summary>Maps the engine's finish string, falling back to the response's <see cref="ChatFinishReason"/>.</summary>
    public static string? ReadFinishReason(AdditionalPropertiesDictionary? properties, ChatFinishReason? finishReason)
    {
        if (properties?.TryGetValue(CompactAIPropertyNames.FinishReason, out object? value) == true && value is string text)
        {
            return text;
        }

        if (finishReason == ChatFinishReason.Length)
        {
            return CompactAIPropertyNames.FinishLength;
        }

        return finishReason == ChatFinishReason.Stop ? CompactAIPropertyNames.FinishStop : null;
    }

    /// <summary>Prompt perplexity from the engine's prompt log-probabilities, when present.</summary>
    public static double? ReadPromptPerplexity(AdditionalPropertiesDictionary? properties) =>
        properties?.TryGetValue(CompactAIPropertyNames.PromptLogProbabilities, out object? value) == true
        && value is IReadOnlyList<float> { Count: > 0 } logProbabilities
            ? PromptScore.FromLogProbabilities(logProbabilities).Perplexity
            : null;
}
