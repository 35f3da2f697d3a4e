using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Hybrid;

/// <summary>A remote stand-in driven by a callback; counts calls and keeps the options it received.</summary>
internal sealed class DelegateRemoteClient : IChatClient
{
    private readonly Func<IList<ChatMessage>, CancellationToken, Task<ChatResponse>> _respond;
    private int _calls;

    public DelegateRemoteClient(Func<IList<ChatMessage>, CancellationToken, Task<ChatResponse>> respond) => _respond = respond;

    public int Calls => Volatile.Read(ref _calls);

    public ChatOptions? LastOptions { get; private set; }

    public static DelegateRemoteClient Answering(string text) => new((_, _) => Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, text))
    {
        Usage = new UsageDetails { InputTokenCount = 20, OutputTokenCount = 7 },
    }));

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        LastOptions = options;
        return _respond([.. messages], cancellationToken);
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ChatResponse response = await GetResponseAsync(messages, options, cancellationToken);
        foreach (ChatResponseUpdate update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
