using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;

namespace CompactAI.Hybrid;

/// <summary>Factories for the remote side of a <see cref="HybridChatClient"/>.</summary>
public static class RemoteChatClients
{
    /// <summary>
    /// A client for any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI v1, vLLM, llama.cpp server,
    /// Ollama, …) through the official OpenAI .NET client and Microsoft.Extensions.AI.OpenAI.
    /// </summary>
    /// <param name="endpoint">Base address, typically ending in <c>/v1</c>; requests go to <c>{endpoint}/chat/completions</c>.</param>
    /// <param name="apiKey">The API key; sent as a bearer token, never logged.</param>
    /// <param name="model">The model name.</param>
    /// <param name="options">
    /// The hybrid policy the client will serve: its <see cref="HybridOptions.RemoteTimeout"/> becomes the network timeout.
    /// The OpenAI client's own retries are switched off, because <see cref="HybridChatClient"/> owns retries, back-off
    /// and the circuit breaker (two retry layers would multiply attempts and hide failures from the breaker).
    /// </param>
    /// <returns>The client; dispose it when done.</returns>
    public static IChatClient ForOpenAICompatible(Uri endpoint, string apiKey, string model, HybridOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentException.ThrowIfNullOrEmpty(apiKey);
        ArgumentException.ThrowIfNullOrEmpty(model);
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = endpoint,
            NetworkTimeout = (options ?? new HybridOptions()).RemoteTimeout,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        };
        var client = new OpenAIClient(new ApiKeyCredential(apiKey), clientOptions);
        return client.GetChatClient(model).AsIChatClient();
    }
}
