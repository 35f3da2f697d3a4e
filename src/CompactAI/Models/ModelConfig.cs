using CompactAI.Gguf;

namespace CompactAI.Models;

/// <summary>How RoPE pairs the dimensions it rotates.</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]): the <c>llama</c> family (its converter permuted Q and K to match).</summary>
    Interleaved,
    /// <summary>Pairs half a rotation apart (x[i], x[i + n/2]): the "NeoX" style of qwen2, qwen3, gemma and phi3.</summary>
    NeoX,
}

/// <summary>The FFN's gate activation.</summary>
public enum FfnActivation
{
    /// <summary>SiLU (x·σ(x)): SwiGLU, as in Llama, Qwen and Phi-3.</summary>
    Silu,
    /// <summary>GELU, tanh approximation: GeGLU, as in Gemma.</summary>
    GeluTanh,
}

/// <summary>A model's hyper-parameters, read from GGUF metadata (<c>{architecture}.*</c> keys) and adjusted by its architecture.</summary>
public sealed record ModelConfig
{
    /// <summary><c>general.architecture</c>, e.g. <c>llama</c>.</summary>
    public required string Architecture { get; init; }

    /// <summary><c>general.name</c>, when present.</summary>
    public string? Name { get; init; }

    /// <summary>Training context length (<c>context_length</c>).</summary>
    public required int ContextLength { get; init; }

    /// <summary>Hidden size (<c>embedding_length</c>).</summary>
    public required int EmbeddingLength { get; init; }

    /// <summary>Number of transformer blocks (<c>block_count</c>).</summary>
    public required int BlockCount { get; init; }

    /// <summary>FFN inner size (<c>feed_forward_length</c>).</summary>
    public required int FeedForwardLength { get; init; }

    /// <summary>Query heads (<c>attention.head_count</c>).</summary>
    public required int HeadCount { get; init; }

    /// <summary>Key/value heads (<c>attention.head_count_kv</c>; grouped-query attention when fewer than <see cref="HeadCount"/>).</summary>
    public required int KvHeadCount { get; init; }

    /// <summary>Per-head key size (<c>attention.key_length</c>, default embedding / heads).</summary>
    public required int HeadDim { get; init; }

    /// <summary>Per-head value size (<c>attention.value_length</c>, default <see cref="HeadDim"/>).</summary>
    public required int ValueDim { get; init; }

    /// <summary>Dimensions rotated by RoPE (<c>rope.dimension_count</c>, default <see cref="HeadDim"/>).</summary>
    public required int RopeDimensions { get; init; }

    /// <summary>RoPE base frequency (<c>rope.freq_base</c>, default 10000).</summary>
    public required float RopeFreqBase { get; init; }

    /// <summary>RoPE pairing.</summary>
    public required RopeStyle RopeStyle { get; init; }

    /// <summary>RMSNorm epsilon (<c>attention.layer_norm_rms_epsilon</c>, default 1e-5).</summary>
    public required float RmsNormEpsilon { get; init; }

    /// <summary>Vocabulary size (rows of the token embedding).</summary>
    public required int VocabularySize { get; init; }

    /// <summary>The FFN's gate activation.</summary>
    public FfnActivation Activation { get; init; } = FfnActivation.Silu;

    /// <summary>Multiplier of the token embeddings (Gemma: √embedding_length).</summary>
    public float EmbeddingScale { get; init; } = 1.0f;

    /// <summary>Scale of q·k before the softmax (default 1/√HeadDim).</summary>
    public float AttentionScale { get; init; }

    /// <summary>
    /// Whether q is multiplied by <see cref="AttentionScale"/> before attention rather than the scores after it, as
    /// llama.cpp's graphs for Gemma and Phi-3 do: flash attention then rounds the scaled q to half precision.
    /// </summary>
    public bool ScaleQueryBeforeAttention { get; init; }

    /// <summary>Attention logit soft-cap c: s = c·tanh(s/c) (0: off; Gemma 2 uses 50).</summary>
    public float AttentionSoftcap { get; init; }

    /// <summary>Final logit soft-cap (0: off; Gemma 2 uses 30).</summary>
    public float FinalLogitSoftcap { get; init; }

    /// <summary>Sliding-window size of the layers marked in <see cref="SlidingWindowLayers"/> (0: none).</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Which layers attend only to the last <see cref="SlidingWindow"/> positions (null: none).</summary>
    public IReadOnlyList<bool>? SlidingWindowLayers { get; init; }

    /// <summary>RoPE base of sliding-window layers (Gemma 3's local layers use 10000).</summary>
    public float SlidingWindowRopeFreqBase { get; init; }

    /// <summary>Linear RoPE position scale of sliding-window layers (Gemma 2: the global one; Gemma 3: 1).</summary>
    public float SlidingWindowRopeFreqScale { get; init; } = 1.0f;

    /// <summary>Linear RoPE position scale of full-attention layers (1 / <c>rope.scaling.factor</c>).</summary>
    public float RopeFreqScale { get; init; } = 1.0f;

    /// <summary>Multiplier of RoPE's cos and sin (<c>rope.scaling.attn_factor</c>, default 1; LongRoPE's attention scaling).</summary>
    public float RopeAttentionFactor { get; init; } = 1.0f;

    /// <summary>The context the model was trained with before RoPE scaling (<c>rope.scaling.original_context_length</c>, default <see cref="ContextLength"/>).</summary>
    public int RopeOriginalContextLength { get; init; }

    /// <summary>
    /// Whether the model is a bidirectional encoder (<c>bert</c>): it turns text into embeddings
    /// (<see cref="Chat.CompactEmbeddingGenerator"/>) and cannot generate text.
    /// </summary>
    public bool IsEncoder { get; init; }

    /// <summary>How an encoder's token vectors become one embedding (<c>pooling_type</c>); <see cref="PoolingType.Mean"/> when the file does not say.</summary>
    public PoolingType Pooling { get; init; } = PoolingType.Mean;

    /// <summary>LayerNorm epsilon of encoders (<c>attention.layer_norm_epsilon</c>, default 1e-12).</summary>
    public float LayerNormEpsilon { get; init; } = 1e-12f;

    /// <summary>Whether layer <paramref name="layer"/> uses the sliding window.</summary>
    public bool IsSlidingWindowLayer(int layer) => SlidingWindow > 0 && SlidingWindowLayers is { } l && l[layer];

    /// <summary>Reads the hyper-parameters of a model from <paramref name="file"/>; its architecture adjusts the defaults.</summary>
    /// <exception cref="GgufFormatException">A required key is missing or inconsistent.</exception>
    /// <exception cref="NotSupportedException">The architecture is not supported; the message lists the supported ones.</exception>
    public static ModelConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var architecture = ModelArchitecture.For(file.Metadata.GetString("general.architecture"));
        return architecture.Configure(ReadCommon(file, architecture), file.Metadata);
    }

    /// <summary>
    /// The hyper-parameters of a model another engine runs (<see cref="ComputeBackend.LLamaSharp"/>): the common
    /// <c>{architecture}.*</c> keys where the file has them (0 where it does not: a recurrent model has no attention heads),
    /// no family adjustments. The vocabulary size is the rows of <c>token_embd.weight</c> when the file has it, else the
    /// tokenizer's token count; CompactAI's code above the forward pass needs only that, the embedding length and the context.
    /// </summary>
    /// <exception cref="GgufFormatException"><c>general.architecture</c> or <c>embedding_length</c> is missing, or a value is negative.</exception>
    internal static ModelConfig ForExternalEngine(GgufFile file)
    {
        var m = file.Metadata;
        string arch = m.GetString("general.architecture");
        string p = arch + ".";
        int Optional(string key, int fallback)
        {
            int v = m.GetInt32(p + key, fallback);
            return v >= 0 ? v : throw new GgufFormatException($"must not be negative, found {v}", p + key, -1, file.FilePath);
        }
        int embd = Positive(m, p + "embedding_length", m.GetInt32(p + "embedding_length"));
        int heads = Optional("attention.head_count", 0);
        int headDim = Optional("attention.key_length", heads > 0 ? embd / heads : 0);
        int blocks = BlockCountOf(file, p + "block_count", m.GetInt32(p + "block_count"));
        int vocab = file.FindTensor("token_embd.weight") is { Dimensions.Count: 2 } embedding
            ? checked((int)embedding.Dimensions[1])
            : m.GetArrayOrNull<string>("tokenizer.ggml.tokens")?.Length ?? 0;
        if (vocab <= 0) throw new GgufFormatException("neither token_embd.weight nor tokenizer.ggml.tokens gives the vocabulary size", "tokenizer.ggml.tokens", -1, file.FilePath);
        return new ModelConfig
        {
            Architecture = arch,
            Name = m.GetString("general.name", null),
            ContextLength = Positive(m, p + "context_length", m.GetInt32(p + "context_length", 2048)),
            EmbeddingLength = embd,
            BlockCount = blocks,
            FeedForwardLength = Optional("feed_forward_length", 0),
            HeadCount = heads,
            KvHeadCount = Optional("attention.head_count_kv", heads),
            HeadDim = headDim,
            ValueDim = Optional("attention.value_length", headDim),
            RopeDimensions = Optional("rope.dimension_count", headDim),
            RopeFreqBase = m.GetFloat32(p + "rope.freq_base", 10000f),
            RopeStyle = RopeStyle.NeoX,
            RmsNormEpsilon = m.GetFloat32(p + "attention.layer_norm_rms_epsilon", 1e-5f),
            VocabularySize = vocab,
            AttentionScale = headDim > 0 ? 1.0f / MathF.Sqrt(headDim) : 0f,
            RopeOriginalContextLength = m.GetInt32(p + "context_length", 2048),
        };
    }

    private static ModelConfig ReadCommon(GgufFile file, ModelArchitecture architecture)
    {
        var m = file.Metadata;
        string arch = m.GetString("general.architecture");
        string p = arch + ".";
        int embd = Positive(m, p + "embedding_length", m.GetInt32(p + "embedding_length"));
        int heads = Positive(m, p + "attention.head_count", m.GetInt32(p + "attention.head_count"));
        int kvHeads = Positive(m, p + "attention.head_count_kv", m.GetInt32(p + "attention.head_count_kv", heads));
        if (heads % kvHeads != 0)
            throw new GgufFormatException($"head_count {heads} is not a multiple of head_count_kv {kvHeads}", p + "attention.head_count_kv", -1, file.FilePath);
        int headDim = Positive(m, p + "attention.key_length", m.GetInt32(p + "attention.key_length", embd / heads));
        int valueDim = Positive(m, p + "attention.value_length", m.GetInt32(p + "attention.value_length", headDim));
        int ropeDims = m.GetInt32(p + "rope.dimension_count", headDim);
        if (ropeDims <= 0 || ropeDims > headDim || ropeDims % 2 != 0)
            throw new GgufFormatException($"rope.dimension_count {ropeDims} must be even and in (0, {headDim}]", p + "rope.dimension_count", -1, file.FilePath);
        int blocks = BlockCountOf(file, p + "block_count", m.GetInt32(p + "block_count"));
        var embedding = file.GetTensor("token_embd.weight");
        if (embedding.Dimensions.Count != 2 || embedding.Dimensions[0] != embd)
            throw new GgufFormatException($"token_embd.weight has shape [{string.Join(", ", embedding.Dimensions)}], expected [{embd}, vocab]", "token_embd.weight", -1, file.FilePath);
        if (m.ContainsKey(p + "attention.layer_norm_epsilon")) Epsilon(m, p + "attention.layer_norm_epsilon");
        return new ModelConfig
        {
            Architecture = arch,
            Name = m.GetString("general.name", null),
            ContextLength = Positive(m, p + "context_length", m.GetInt32(p + "context_length", 2048)),
            EmbeddingLength = embd,
            BlockCount = blocks,
            FeedForwardLength = Positive(m, p + "feed_forward_length", m.GetInt32(p + "feed_forward_length")),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = headDim,
            ValueDim = valueDim,
            RopeDimensions = ropeDims,
            RopeFreqBase = m.GetFloat32(p + "rope.freq_base", 10000f),
            RopeStyle = architecture.RopeStyle,
            RmsNormEpsilon = Epsilon(m, p + "attention.layer_norm_rms_epsilon"),
            VocabularySize = checked((int)embedding.Dimensions[1]),
            AttentionScale = 1.0f / MathF.Sqrt(headDim),
            SlidingWindowRopeFreqBase = m.GetFloat32(p + "rope.freq_base", 10000f),
            RopeFreqScale = RopeFreqScaleOf(m, p),
            RopeAttentionFactor = m.GetFloat32(p + "rope.scaling.attn_factor", 1.0f),
            RopeOriginalContextLength = m.GetInt32(p + "rope.scaling.original_context_length", m.GetInt32(p + "context_length", 2048)),
        };
    }

    /// <summary>
    /// 1 / <c>rope.scaling.factor</c> (or the older <c>rope.scale_linear</c>) for linear scaling, as llama.cpp reads it:
    /// a missing <c>rope.scaling.type</c> means linear. YaRN (which also blends in unscaled angles) is not implemented,
    /// so its factor is not applied as if it were linear.
    /// </summary>
    private static float RopeFreqScaleOf(GgufMetadata m, string p)
    {
        float factor = m.GetFloat32(p + "rope.scaling.factor", m.GetFloat32(p + "rope.scale_linear", 0f));
        return factor == 0f || m.GetString(p + "rope.scaling.type", "linear") != "linear" ? 1.0f : 1.0f / factor;
    }

    /// <summary>
    /// A normalisation ε (default 1e-5): finite and not negative, or every forward pass would fail (or give NaN) after the
    /// load succeeded.
    /// </summary>
    private static float Epsilon(GgufMetadata m, string key)
    {
        float eps = m.GetFloat32(key, 1e-5f);
        return float.IsFinite(eps) && eps >= 0 ? eps : throw new GgufFormatException($"must be a finite number >= 0, found {eps}", key, -1, m.FilePath);
    }

    /// <summary>The most transformer blocks a model may declare (llama.cpp's limit is 512; the largest models have under 200).</summary>
    internal const int MaxBlockCount = 4096;

    /// <summary>
    /// <c>block_count</c>, bounded before anything is allocated per block (the weights loader then checks it against the
    /// tensors present).
    /// </summary>
    private static int BlockCountOf(GgufFile file, string key, int blocks)
    {
        Positive(file.Metadata, key, blocks);
        if (blocks > MaxBlockCount)
            throw new GgufFormatException($"is {blocks}, more than the {MaxBlockCount} blocks supported", key, -1, file.FilePath);
        return blocks;
    }

    private static int Positive(GgufMetadata m, string key, int value) =>
        value > 0 ? value : throw new GgufFormatException($"must be positive, found {value}", key, -1, m.FilePath);
}
