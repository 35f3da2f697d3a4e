using CompactAI.Hybrid;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Hybrid;

internal static class HybridAssert
{
    public static readonly ChatMessage[] Question = [new(ChatRole.User, "What is the capital of France?")];

    public static HybridDecision Decision(ChatResponse response)
    {
        Assert.NotNull(response.AdditionalProperties);
        Assert.True(response.AdditionalProperties.TryGetValue(CompactAIPropertyNames.HybridDecision, out object? value), "response carries no decision");
        return Assert.IsType<HybridDecision>(value);
    }

    public static ChatOptions Route(string route) => new() { AdditionalProperties = new() { [CompactAIPropertyNames.Route] = route } };

    public static HybridOptions FastRetries(int retries = 0) => new()
    {
        MaxRemoteRetries = retries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        RetryMaxDelay = TimeSpan.FromMilliseconds(2),
    };
}
