using CompactAI.Backends;
using CompactAI.Inference;
using CompactAI.Models;
using LLama;
using LLama.Native;

namespace CompactAI.LLamaSharp;

/// <summary>
/// One session's forward pass in llama.cpp: its own <see cref="LLamaContext"/> (KV cache and scratch), the session's tokens as
/// llama.cpp sequence 0. A call decodes its tokens as one batch (<c>llama_decode</c>) and copies out the logits, or the final
/// hidden states (llama.cpp's embeddings without pooling). When CompactAI's sequence keeps a shorter prefix (prefix reuse,
/// <see cref="InferenceSession.Reset"/>), the positions after it are removed from llama.cpp's memory (<c>llama_memory_seq_rm</c>);
/// a memory that cannot drop a tail (a recurrent model's) is cleared and the kept prefix decoded again. Session state stays in
/// llama.cpp: <see cref="HostCache"/> throws <see cref="BackendFeatureNotSupportedException"/>.
/// </summary>
internal sealed class LLamaSharpForwardPass : IForwardPass
{
    private static readonly LLamaSeqId Sequence = LLamaSeqId.Zero;

    private readonly LLamaContext _context;
    private readonly LLamaBatch _batch = new();
    private readonly List<int> _cached = new(); // the tokens in llama.cpp's memory, in position order
    private readonly int _vocab, _embedding, _contextSize;
    private readonly Action _release;
    private bool _disposed;

    public LLamaSharpForwardPass(LLamaContext context, ModelConfig config, int contextSize, int maxBatch, Action release)
    {
        _context = context;
        _vocab = config.VocabularySize;
        _embedding = config.EmbeddingLength;
        _contextSize = contextSize;
        MaxBatch = maxBatch;
        _release = release;
        // llama.cpp's default cache is F16 keys and values; the header's dimensions give its size (an estimate for families
        // whose cache is shaped otherwise, e.g. recurrent state).
        CacheBytes = (long)config.BlockCount * contextSize * config.KvHeadCount * (config.HeadDim + config.ValueDim) * sizeof(ushort);
    }

    public int MaxBatch { get; }

    public long CacheBytes { get; }

    public void Forward(ReadOnlySpan<int> tokens, int startPos, Span<float> logits, bool allLogits)
    {
        Decode(tokens, startPos, outputs: allLogits ? tokens.Length : 1, embeddings: false);
        if (allLogits)
        {
            for (int i = 0; i < tokens.Length; i++) _context.NativeHandle.GetLogitsIth(i).CopyTo(logits.Slice(i * _vocab, _vocab));
        }
        else
        {
            _context.NativeHandle.GetLogitsIth(tokens.Length - 1).CopyTo(logits[.._vocab]);
        }
    }

    public void ForwardHidden(ReadOnlySpan<int> tokens, int startPos, Span<float> hidden)
    {
        _context.NativeHandle.SetEmbeddings(true);
        try
        {
            Decode(tokens, startPos, outputs: tokens.Length, embeddings: true);
            for (int i = 0; i < tokens.Length; i++)
                _context.NativeHandle.GetEmbeddingsIth((LLamaPos)i).CopyTo(hidden.Slice(i * _embedding, _embedding));
        }
        finally
        {
            _context.NativeHandle.SetEmbeddings(false);
        }
    }

    public KvCache HostCache => throw StateNotSupported();

    public void CacheToHost(int count) => throw StateNotSupported();

    public void CacheFromHost(int count) => throw StateNotSupported();

    private static BackendFeatureNotSupportedException StateNotSupported() =>
        new(ComputeBackend.LLamaSharp, "saving and loading session state (SaveState, LoadState)",
            "the KV cache lives in llama.cpp's context, in its own layout");

    /// <summary>Decodes <paramref name="tokens"/> at <paramref name="startPos"/>…, the last <paramref name="outputs"/> of them with outputs.</summary>
    private void Decode(ReadOnlySpan<int> tokens, int startPos, int outputs, bool embeddings)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tokens.Length == 0 || tokens.Length > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens.Length, $"A call takes 1 to {MaxBatch} tokens.");
        if (startPos + tokens.Length > _contextSize)
            throw new ArgumentOutOfRangeException(nameof(startPos), startPos, $"Positions {startPos}…{startPos + tokens.Length - 1} exceed the context of {_contextSize}.");
        Rewind(startPos);
        _batch.Clear();
        for (int i = 0; i < tokens.Length; i++)
            _batch.Add((LLamaToken)tokens[i], startPos + i, Sequence, i >= tokens.Length - outputs);
        Check(_context.NativeHandle.Decode(_batch), startPos, embeddings);
        foreach (int t in tokens) _cached.Add(t);
    }

    /// <summary>Makes llama.cpp's memory hold exactly the first <paramref name="count"/> cached tokens.</summary>
    private void Rewind(int count)
    {
        if (count > _cached.Count)
            throw new InvalidOperationException($"Position {count} follows only {_cached.Count} cached tokens.");
        if (count == _cached.Count) return;
        var handle = _context.NativeHandle;
        handle.MemorySequenceRemove(Sequence, count, -1);
        if (handle.MemorySequenceMaxPosition(Sequence).Value < count)
        {
            _cached.RemoveRange(count, _cached.Count - count);
            return;
        }
        // The memory kept the tail (a recurrent state cannot be cut): start again from the kept prefix.
        handle.MemoryClear(true);
        var keep = _cached.GetRange(0, count);
        _cached.Clear();
        for (int start = 0; start < keep.Count; start += MaxBatch)
        {
            int n = Math.Min(MaxBatch, keep.Count - start);
            _batch.Clear();
            for (int i = 0; i < n; i++) _batch.Add((LLamaToken)keep[start + i], start + i, Sequence, false);
            Check(handle.Decode(_batch), start, embeddings: false);
            _cached.AddRange(keep.GetRange(start, n));
        }
    }

    private static void Check(DecodeResult result, int position, bool embeddings)
    {
        if (result == DecodeResult.Ok) return;
        string what = embeddings ? "hidden states" : "logits";
        throw new InvalidOperationException($"llama_decode returned {result} ({(int)result}) for the {what} of the batch at position {position}.");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _context.Dispose();
        _release();
    }
}
