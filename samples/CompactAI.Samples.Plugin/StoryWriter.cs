using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace CompactAI.Samples.Plugin;

/// <summary>Options of <see cref="StoryWriter"/>.</summary>
public sealed class StoryWriterOptions
{
    /// <summary>The system prompt that sets the tone.</summary>
    public string Instructions { get; set; } = "You write short, happy bedtime stories for small children.";

    /// <summary>Most tokens per story.</summary>
    public int MaxTokens { get; set; } = 96;

    /// <summary>Sampling temperature (0: the same story every time).</summary>
    public float Temperature { get; set; } = 0.7f;
}

/// <summary>A feature a host composes: writes a story about a topic with whatever <see cref="IChatClient"/> the host registered.</summary>
public sealed class StoryWriter(IChatClient chat, IOptions<StoryWriterOptions> options)
{
    /// <summary>Writes a story about <paramref name="topic"/>.</summary>
    public async Task<string> WriteAsync(string topic, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        var o = options.Value;
        ChatResponse response = await chat.GetResponseAsync(
            [new ChatMessage(ChatRole.System, o.Instructions), new ChatMessage(ChatRole.User, $"Tell me a story about {topic}.")],
            new ChatOptions { MaxOutputTokens = o.MaxTokens, Temperature = o.Temperature },
            cancellationToken).ConfigureAwait(false);
        return response.Text.Trim();
    }
}
