using CompactAI.Models;
using Microsoft.Extensions.AI;

namespace CompactAI.Chat;

/// <summary>
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a local <see cref="CompactModel"/>, L2-normalised so that
/// cosine similarity is a dot product. For an encoder model (<c>bert</c>: MiniLM, BGE, …) each text's embedding is pooled
/// from the encoder's token vectors as the model's <c>pooling_type</c> says (or as <see cref="Pooling"/> overrides it),
/// exactly as llama.cpp computes it; all the texts of one call are encoded together in batches, so their projections
/// are matrix–matrix products. For a decoder model it is the mean of the final hidden states (after the output norm).
/// </summary>
/// <remarks>Thread-safe; an encoder model runs up to <see cref="CompactModelOptions.MaxParallelSequences"/> calls at
/// once, a decoder model runs on its session pool like <see cref="CompactChatClient"/>.</remarks>
public sealed class CompactEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly CompactModel _model;
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Creates a generator over <paramref name="model"/> (which it does not own).</summary>
    /// <param name="model">The model.</param>
    /// <param name="modelId">The id reported in the embeddings and the metadata (default: the file name).</param>
    /// <param name="pooling">
    /// For an encoder model, the pooling to use instead of the model's (as llama-server's <c>--pooling</c>); decoder models
    /// always pool by the mean, so anything else is refused for them.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="pooling"/> is not Mean for a decoder model, or not a defined value.</exception>
    public CompactEmbeddingGenerator(CompactModel model, string? modelId = null, PoolingType? pooling = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (pooling is { } p && !Enum.IsDefined(p)) throw new ArgumentOutOfRangeException(nameof(pooling), p, "Unknown pooling type.");
        if (!model.Config.IsEncoder && pooling is { } q && q != PoolingType.Mean)
            throw new ArgumentException($"Pooling {q} needs an encoder model; a decoder model's embedding is always the mean of its hidden states.", nameof(pooling));
        _model = model;
        Pooling = pooling ?? (model.Config.IsEncoder ? model.Config.Pooling : PoolingType.Mean);
        _metadata = new EmbeddingGeneratorMetadata("compactai", null, modelId ?? Path.GetFileNameWithoutExtension(model.FilePath), model.Config.EmbeddingLength);
    }

    /// <summary>How token vectors become one embedding: the model's <c>pooling_type</c> unless overridden (decoders: Mean).</summary>
    public PoolingType Pooling { get; }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A text is null, has no tokens (decoder models add none), or is longer than the context (encoders: the model's training context).</exception>
    /// <exception cref="NotSupportedException"><see cref="Pooling"/> is None: there is no single vector per text (use <see cref="GenerateTokenEmbeddingsAsync"/>).</exception>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (_model.Encoders is { } encoders) return await EncodeAsync(encoders, values, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// Encodes <paramref name="value"/> with an encoder model and returns one vector per token ([CLS] and [SEP] included),
    /// unpooled and unnormalised: llama.cpp's pooling <c>none</c>.
    /// </summary>
    /// <exception cref="NotSupportedException">The model is a decoder.</exception>
    /// <exception cref="ArgumentException">The text is longer than the model's context.</exception>
    public async Task<IReadOnlyList<float[]>> GenerateTokenEmbeddingsAsync(string value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        var encoders = _model.Encoders ?? throw new NotSupportedException("Token embeddings need an encoder model (such as bert); this model is a decoder.");
        var tokens = TokensOf(value, nameof(value));
        var encoder = await encoders.RentAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            int embd = _model.Config.EmbeddingLength;
            encoder.Forward(tokens.ToArray(), [tokens.Count]);
            var hidden = encoder.Hidden(tokens.Count);
            var rows = new float[tokens.Count][];
            for (int t = 0; t < rows.Length; t++) rows[t] = hidden.Slice(t * embd, embd).ToArray();
            return rows;
        }
        finally
        {
            encoders.Return(encoder);
        }
    }

    /// <summary>The encoder path: tokenize every text, then encode them in packed batches of up to the encoder's token capacity.</summary>
    private async Task<GeneratedEmbeddings<Embedding<float>>> EncodeAsync(EncoderPool encoders, IEnumerable<string> values, CancellationToken cancellationToken)
    {
        if (Pooling == PoolingType.None)
            throw new NotSupportedException("Pooling 'none' gives one vector per token, not one per text; use GenerateTokenEmbeddingsAsync, or choose another pooling.");
        var all = new List<IReadOnlyList<int>>();
        long inputTokens = 0;
        foreach (var text in values)
        {
            ArgumentNullException.ThrowIfNull(text, nameof(values));
            var tokens = TokensOf(text, nameof(values));
            all.Add(tokens);
            inputTokens += tokens.Count;
        }
        int embd = _model.Config.EmbeddingLength;
        var vectors = new float[all.Count][];
        if (all.Count > 0)
        {
            var encoder = await encoders.RentAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var packed = new int[encoder.MaxTokens];
                var lengths = new int[encoder.MaxTokens];
                for (int first = 0; first < all.Count;)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int count = 0, used = 0;
                    while (first + count < all.Count && used + all[first + count].Count <= encoder.MaxTokens)
                    {
                        var tokens = all[first + count];
                        for (int t = 0; t < tokens.Count; t++) packed[used + t] = tokens[t];
                        lengths[count++] = tokens.Count;
                        used += tokens.Count;
                    }
                    encoder.Forward(packed.AsSpan(0, used), lengths.AsSpan(0, count));
                    var hidden = encoder.Hidden(used);
                    for (int i = 0, start = 0; i < count; start += lengths[i], i++)
                    {
                        var v = new float[embd];
                        BertEncoder.Pool(hidden, embd, start, lengths[i], Pooling, v);
                        vectors[first + i] = v;
                    }
                    first += count;
                }
            }
            finally
            {
                encoders.Return(encoder);
            }
        }
        var result = new GeneratedEmbeddings<Embedding<float>>(vectors.Length);
        var created = DateTimeOffset.UtcNow;
        foreach (var v in vectors) result.Add(new Embedding<float>(v) { ModelId = _metadata.DefaultModelId, CreatedAt = created });
        result.Usage = new UsageDetails { InputTokenCount = inputTokens, TotalTokenCount = inputTokens };
        return result;
    }

    /// <summary>The tokens of <paramref name="text"/> for the encoder: [CLS] text [SEP], at most the model's context.</summary>
    private IReadOnlyList<int> TokensOf(string text, string parameter)
    {
        var tokens = _model.Tokenizer.Encode(text, addSpecial: true);
        int limit = Math.Min(_model.Config.ContextLength, _model.Encoders!.MaxTokens);
        if (tokens.Count == 0) throw new ArgumentException("The text has no tokens to embed.", parameter);
        if (tokens.Count > limit)
            throw new ArgumentException($"A text of {tokens.Count} tokens does not fit the model's {limit}-token context.", parameter);
        return tokens;
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
