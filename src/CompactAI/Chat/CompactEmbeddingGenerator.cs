using Microsoft.Extensions.AI;

namespace CompactAI.Chat;

/// <summary>
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a local <see cref="CompactModel"/>: each text's embedding
/// is the mean of the model's final hidden states (after the output norm), L2-normalised, so cosine similarity is a dot product.
/// </summary>
/// <remarks>Thread-safe; runs on the model's session pool like <see cref="CompactChatClient"/>.</remarks>
public sealed class CompactEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly CompactModel _model;
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Creates a generator over <paramref name="model"/> (which it does not own).</summary>
    public CompactEmbeddingGenerator(CompactModel model, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _metadata = new EmbeddingGeneratorMetadata("compactai", null, modelId ?? Path.GetFileNameWithoutExtension(model.FilePath), model.Config.EmbeddingLength);
    }

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var result = new GeneratedEmbeddings<Embedding<float>>();
        long inputTokens = 0;
        foreach (var text in values)
        {
            ArgumentNullException.ThrowIfNull(text, nameof(values));
            var tokens = _model.Tokenizer.Encode(text, addSpecial: true);
            if (tokens.Count == 0) throw new ArgumentException("An empty text has no tokens to embed (the model adds no BOS).", nameof(values));
            if (tokens.Count > _model.Sessions.ContextSize)
                throw new ArgumentException($"A text of {tokens.Count} tokens does not fit the {_model.Sessions.ContextSize}-token context.", nameof(values));
            using var lease = await _model.Sessions.RentAsync(tokens, cancellationToken).ConfigureAwait(false);
            var vector = await lease.Session.EmbedAsync(tokens, cancellationToken).ConfigureAwait(false);
            result.Add(new Embedding<float>(vector) { ModelId = _metadata.DefaultModelId, CreatedAt = DateTimeOffset.UtcNow });
            inputTokens += tokens.Count;
        }
        result.Usage = new UsageDetails { InputTokenCount = inputTokens, TotalTokenCount = inputTokens };
        return result;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(CompactModel)) return _model;
        return null;
    }

    /// <summary>Does nothing: the model belongs to the caller.</summary>
    public void Dispose()
    {
    }
}
