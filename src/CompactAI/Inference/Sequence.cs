using CompactAI.Backends;

namespace CompactAI.Inference;

/// <summary>
/// One sequence of a model: the tokens whose keys and values are cached, the cache itself, and the logits of its last
/// evaluated token. On the CPU the cache is a host <see cref="KvCache"/> that the model's <see cref="BatchScheduler"/>
/// runs together with the other sequences' in one forward pass per step; on a device the sequence has its own
/// <see cref="IForwardPass"/>, which the scheduler runs on its own. Only the scheduler thread touches a sequence while
/// work for it is scheduled; otherwise its session owns it.
/// </summary>
internal sealed class Sequence : IDisposable
{
    private readonly IForwardPass? _pass;
    private readonly KvCache? _cache;
    private readonly List<int> _tokens = new();

    /// <summary>A sequence of the model's batched CPU forward pass.</summary>
    public Sequence(KvCache cache, int vocabularySize)
    {
        _cache = cache;
        ContextSize = cache.Capacity;
        Logits = new float[vocabularySize];
    }

    /// <summary>A sequence with its own forward pass (a device's).</summary>
    public Sequence(IForwardPass pass, int contextSize, int vocabularySize)
    {
        _pass = pass;
        ContextSize = contextSize;
        Logits = new float[vocabularySize];
    }

    /// <summary>Positions the cache holds.</summary>
    public int ContextSize { get; }

    /// <summary>The batched pass's cache of this sequence, or null when it has its own pass.</summary>
    public KvCache? Cache => _cache;

    /// <summary>The sequence's own forward pass, or null when the batched CPU pass runs it.</summary>
    public IForwardPass? Pass => _pass;

    /// <summary>The cached tokens, in order.</summary>
    public List<int> Tokens => _tokens;

    /// <summary>The logits after the last token evaluated with <see cref="Models.SegmentOutput.LastLogits"/>.</summary>
    public float[] Logits { get; }

    /// <summary>
    /// The LoRA adapter set this sequence runs under and its cached keys and values were computed under (null: the base
    /// model). Its session changes it only between works, forgetting the cached tokens when the set differs.
    /// </summary>
    public Models.LoraStack? Adapters { get; set; }

    /// <summary>Tokens run through the model (prompt and generated).</summary>
    public long TokensEvaluated { get; set; }

    /// <summary>Bytes held by the KV cache.</summary>
    public long CacheBytes => _cache?.SizeInBytes ?? _pass!.CacheBytes;

    /// <summary>The cache on the host, for saving and loading state.</summary>
    public KvCache HostCache => _cache ?? _pass!.HostCache;

    /// <summary>Makes <see cref="HostCache"/> hold the cached positions.</summary>
    public void CacheToHost() => _pass?.CacheToHost(_tokens.Count);

    /// <summary>Makes the live cache hold the first <paramref name="count"/> positions of <see cref="HostCache"/>.</summary>
    public void CacheFromHost(int count) => _pass?.CacheFromHost(count);

    /// <summary>
    /// Keeps the longest cached prefix of <paramref name="prompt"/> (never all of it: the last token must run again to
    /// produce its logits) and forgets the rest; returns how many tokens are kept.
    /// </summary>
    public int ReusePrefix(IReadOnlyList<int> prompt)
    {
        int reuse = 0;
        while (reuse < _tokens.Count && reuse < prompt.Count && _tokens[reuse] == prompt[reuse]) reuse++;
        if (reuse == prompt.Count) reuse--;
        _tokens.RemoveRange(reuse, _tokens.Count - reuse);
        return reuse;
    }

    /// <summary>Forgets the cached tokens after the first <paramref name="count"/>.</summary>
    public void Truncate(int count)
    {
        if (count < _tokens.Count) _tokens.RemoveRange(count, _tokens.Count - count);
    }

    /// <summary>Releases the device pass (a CPU sequence's cache is managed memory).</summary>
    public void Dispose() => _pass?.Dispose();
}
