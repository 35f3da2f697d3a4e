using CompactAI.Inference;
using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>
/// Watches a local stream update by update: keeps the updates and tokens, and decides early exit from the running
/// confidence. Used both when the stream is buffered and when it is forwarded live.
/// </summary>
internal sealed class LocalStreamCollector
{
    private readonly List<ChatResponseUpdate> _updates = [];
    private readonly List<GeneratedToken> _tokens = [];
    private readonly ConfidenceSignalsAccumulator _accumulator = new();
    private readonly IConfidenceScorer _scorer;
    private readonly double _threshold;
    private readonly int _minTokens;
    private readonly bool _earlyExit;
    private readonly double? _promptPerplexity;
    private string? _finish;

    public LocalStreamCollector(HybridOptions options, bool earlyExit, double? promptPerplexity)
    {
        _scorer = options.Scorer;
        _threshold = options.ConfidenceThreshold;
        _minTokens = options.EarlyExitMinTokens;
        _earlyExit = earlyExit;
        _promptPerplexity = promptPerplexity;
    }

    /// <summary>Records an update; returns <see langword="true"/> when the running confidence says to abandon the stream.</summary>
    public bool Observe(ChatResponseUpdate update)
    {
        _updates.Add(update);
        _finish = LocalOutcome.ReadFinishReason(update.AdditionalProperties, update.FinishReason) ?? _finish;
        if (update.AdditionalProperties?.TryGetValue(CompactAIPropertyNames.Token, out object? value) != true
            || value is not GeneratedToken token)
        {
            return false;
        }

        _tokens.Add(token);
        _accumulator.Add(token);
        return _earlyExit
            && _accumulator.Count >= _minTokens
            && _scorer.Score(_accumulator.ToSignals(_promptPerplexity)) < _threshold;
    }

    /// <summary>The outcome of the stream so far.</summary>
    public LocalOutcome Complete(bool earlyExited, TimeSpan latency)
    {
        ChatResponse response = _updates.ToChatResponse();
        response.AdditionalProperties ??= [];
        response.AdditionalProperties.Remove(CompactAIPropertyNames.Token);
        response.AdditionalProperties[CompactAIPropertyNames.Tokens] = _tokens;
        string? finish = earlyExited ? CompactAIPropertyNames.FinishCancelled : _finish;
        return new LocalOutcome
        {
            Response = response,
            Updates = _updates,
            Tokens = _tokens,
            FinishReason = finish,
            EarlyExited = earlyExited,
            PromptPerplexity = _promptPerplexity ?? LocalOutcome.ReadPromptPerplexity(response.AdditionalProperties),
            Latency = latency,
        };
    }
}
