using System.Runtime.CompilerServices;
using CompactAI.Hybrid;
using CompactAI.Inference;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Hybrid;

/// <summary>
/// Stands in for the CompactAI engine client: replays a scripted token list with the evidence properties the real
/// client attaches, and records what it was asked and whether it saw cancellation.
/// </summary>
internal sealed class ScriptedLocalClient : IChatClient
{
    private readonly IReadOnlyList<GeneratedToken> _tokens;
    private readonly string _finish;
    private readonly IPromptScorer? _promptScorer;
    private int _calls;
    private int _streamCalls;
    private int _tokensProduced;

    public ScriptedLocalClient(IReadOnlyList<GeneratedToken> tokens, string finish = "stop", IPromptScorer? promptScorer = null)
    {
        _tokens = tokens;
        _finish = finish;
        _promptScorer = promptScorer;
    }

    public int Calls => Volatile.Read(ref _calls);

    public int StreamCalls => Volatile.Read(ref _streamCalls);

    public int TokensProduced => Volatile.Read(ref _tokensProduced);

    public bool SawCancellation { get; private set; }

    public ChatOptions? LastOptions { get; private set; }

    public string Text => string.Concat(_tokens.Select(t => t.Text));

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        LastOptions = options;
        Interlocked.Add(ref _tokensProduced, _tokens.Count);
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, Text))
        {
            FinishReason = _finish == "length" ? ChatFinishReason.Length : ChatFinishReason.Stop,
            Usage = new UsageDetails { InputTokenCount = 12, OutputTokenCount = _tokens.Count },
            AdditionalProperties = new()
            {
                [CompactAIPropertyNames.Tokens] = _tokens,
                [CompactAIPropertyNames.FinishReason] = _finish,
            },
        };
        return Task.FromResult(response);
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _streamCalls);
        LastOptions = options;
        try
        {
            foreach (GeneratedToken token in _tokens)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    SawCancellation = true;
                    yield break;
                }

                await Task.Yield();
                Interlocked.Increment(ref _tokensProduced);
                yield return new ChatResponseUpdate(ChatRole.Assistant, token.Text)
                {
                    MessageId = "local-1",
                    AdditionalProperties = new() { [CompactAIPropertyNames.Token] = token },
                };
            }

            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                MessageId = "local-1",
                FinishReason = _finish == "length" ? ChatFinishReason.Length : ChatFinishReason.Stop,
                AdditionalProperties = new() { [CompactAIPropertyNames.FinishReason] = _finish },
            };
        }
        finally
        {
            if (cancellationToken.IsCancellationRequested)
            {
                SawCancellation = true;
            }
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(IPromptScorer) ? _promptScorer
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
    }
}
