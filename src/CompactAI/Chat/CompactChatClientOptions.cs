namespace CompactAI.Chat;

/// <summary>What happens when a conversation no longer fits the context window.</summary>
public enum ContextOverflowPolicy
{
    /// <summary>Fail with <see cref="InvalidOperationException"/> naming the sizes.</summary>
    Throw,
    /// <summary>Drop the oldest non-system messages until the prompt and the answer fit (a sliding window over turns).</summary>
    DropOldestMessages,
}

/// <summary>Options of <see cref="CompactChatClient"/>; null properties mean "the model's or llama.cpp's default".</summary>
public sealed record CompactChatClientOptions
{
    /// <summary>The model id reported in responses and metadata (default: the file name).</summary>
    public string? ModelId { get; init; }

    /// <summary>Answer length when a request does not set <c>MaxOutputTokens</c>, capped at what the context leaves after the prompt.</summary>
    public int DefaultMaxOutputTokens { get; init; } = 512;

    /// <summary>A Jinja chat template to use instead of the model's own (<c>tokenizer.chat_template</c>).</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>A named template variant of the model (<c>tokenizer.chat_template.&lt;name&gt;</c>), e.g. <c>tool_use</c>.</summary>
    public string? ChatTemplateName { get; init; }

    /// <summary>
    /// Also score the last user message under the model and attach its per-token log-probabilities to each response
    /// (<see cref="CompactAIPropertyNames.PromptLogProbabilities"/>), so the hybrid router's confidence includes the
    /// prompt's perplexity. Costs one extra pass over that message, and the prompt is then processed without cache reuse.
    /// </summary>
    public bool ScorePrompts { get; init; }

    /// <summary>What to do when the conversation does not fit the context.</summary>
    public ContextOverflowPolicy ContextOverflow { get; init; } = ContextOverflowPolicy.Throw;
}
