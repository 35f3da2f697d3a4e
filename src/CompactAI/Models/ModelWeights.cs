using System.Runtime.InteropServices;
using CompactAI.Gguf;
using CompactAI.Tensors;
using CompactAI.Tensors.Native;

namespace CompactAI.Models;

/// <summary>
/// The weights of one transformer block, viewed in place in the memory-mapped file. Optional parts are null when the
/// family does not have them: biases (Qwen2), Q/K norms (Qwen3, Gemma 3), post-norms (Gemma 2/3), fused QKV and fused
/// gate-up projections (Phi-3).
/// </summary>
internal sealed record LayerWeights
{
    public required float[] AttentionNorm { get; init; }   // [embd]
    public WeightMatrix? Qkv { get; init; }                // fused [q + k + v rows, embd]
    public WeightMatrix? Query { get; init; }              // [heads·headDim rows, embd cols]
    public WeightMatrix? Key { get; init; }                // [kvHeads·headDim, embd]
    public WeightMatrix? Value { get; init; }              // [kvHeads·valueDim, embd]
    public float[]? QueryBias { get; init; }
    public float[]? KeyBias { get; init; }
    public float[]? ValueBias { get; init; }
    public float[]? QueryNorm { get; init; }               // [headDim], applied per head
    public float[]? KeyNorm { get; init; }                 // [headDim]
    public required WeightMatrix Output { get; init; }     // [embd, heads·valueDim]
    public float[]? PostAttentionNorm { get; init; }       // [embd]
    public required float[] FfnNorm { get; init; }         // [embd]
    public WeightMatrix? Gate { get; init; }               // [ff, embd]; null when fused into Up
    public required WeightMatrix Up { get; init; }         // [ff, embd], or [2·ff, embd] = gate then up when fused
    public required WeightMatrix Down { get; init; }       // [embd, ff]
    public float[]? PostFfnNorm { get; init; }             // [embd]
}

/// <summary>
/// All weights of a model. Matrices stay in the memory-mapped GGUF, except those <see cref="InterleaveForCpu"/> moves into
/// a native kernel's layout; the small 1-D tensors (norms, biases, RoPE factors) are expanded to <see cref="float"/> arrays
/// at load. Shapes are checked against <see cref="ModelConfig"/>.
/// </summary>
internal sealed unsafe class ModelWeights : IDisposable
{
    private readonly List<nint> _copies = new();

    public required WeightMatrix TokenEmbedding { get; init; }  // [vocab rows, embd cols]
    public required LayerWeights[] Layers { get; init; }
    public required float[] OutputNorm { get; init; }           // [embd]
    public required WeightMatrix Output { get; set; }           // [vocab, embd]; the embedding itself when tied
    public float[]? RopeFrequencyFactors { get; init; }         // [ropeDims / 2]: Llama 3 rope_freqs, Phi-3 LongRoPE short factors
    public float[]? LongRopeFrequencyFactors { get; init; }     // [ropeDims / 2]: Phi-3 LongRoPE long factors (contexts beyond the original)

    /// <summary>The kernels the matrices were given (<see cref="CompactModelOptions.CpuKernels"/>).</summary>
    public required FormatSet Formats { get; init; }

    /// <summary>
    /// The RoPE frequency factors a session of <paramref name="contextSize"/> positions uses: like llama.cpp, LongRoPE's
    /// long factors when the context exceeds the original training context, else the short ones (or Llama 3's).
    /// </summary>
    public float[]? RopeFactorsFor(ModelConfig c, int contextSize) =>
        LongRopeFrequencyFactors is { } longFactors && contextSize > c.RopeOriginalContextLength ? longFactors : RopeFrequencyFactors;

    /// <summary>Views the weights of <paramref name="file"/>, its matrices computed with <paramref name="formats"/> (null: the default set).</summary>
    public static ModelWeights Load(GgufFile file, ModelConfig c, FormatSet? formats = null)
    {
        var fs = formats ?? FormatSet.Default;
        WeightMatrix Matrix(GgufFile file, string name, int columns, int rows) => ModelWeights.Matrix(file, name, columns, rows, fs);
        int embd = c.EmbeddingLength, ff = c.FeedForwardLength;
        int qDim = c.HeadCount * c.HeadDim, kDim = c.KvHeadCount * c.HeadDim, vDim = c.KvHeadCount * c.ValueDim;
        int oIn = c.HeadCount * c.ValueDim;
        // Before the per-block array: a count the tensors cannot back is refused, not allocated.
        string last = $"blk.{c.BlockCount - 1}.attn_norm.weight";
        if (c.BlockCount > file.Tensors.Count || file.FindTensor(last) is null)
            throw new GgufFormatException(c.BlockCount > file.Tensors.Count
                    ? $"is {c.BlockCount}, more blocks than the file's {file.Tensors.Count} tensors"
                    : $"is {c.BlockCount}, but the last block's tensor '{last}' is missing",
                c.Architecture + ".block_count", -1, file.FilePath);
        var layers = new LayerWeights[c.BlockCount];
        for (int i = 0; i < layers.Length; i++)
        {
            string b = $"blk.{i}.";
            bool fusedQkv = file.FindTensor(b + "attn_qkv.weight") is not null;
            bool fusedGateUp = file.FindTensor(b + "ffn_gate.weight") is null;
            layers[i] = new LayerWeights
            {
                AttentionNorm = Vector(file, b + "attn_norm.weight", embd),
                Qkv = fusedQkv ? Matrix(file, b + "attn_qkv.weight", embd, qDim + kDim + vDim) : null,
                Query = fusedQkv ? null : Matrix(file, b + "attn_q.weight", embd, qDim),
                Key = fusedQkv ? null : Matrix(file, b + "attn_k.weight", embd, kDim),
                Value = fusedQkv ? null : Matrix(file, b + "attn_v.weight", embd, vDim),
                QueryBias = OptionalVector(file, b + "attn_q.bias", qDim),
                KeyBias = OptionalVector(file, b + "attn_k.bias", kDim),
                ValueBias = OptionalVector(file, b + "attn_v.bias", vDim),
                QueryNorm = OptionalVector(file, b + "attn_q_norm.weight", c.HeadDim),
                KeyNorm = OptionalVector(file, b + "attn_k_norm.weight", c.HeadDim),
                Output = Matrix(file, b + "attn_output.weight", oIn, embd),
                PostAttentionNorm = OptionalVector(file, b + "post_attention_norm.weight", embd),
                FfnNorm = Vector(file, b + "ffn_norm.weight", embd),
                Gate = fusedGateUp ? null : Matrix(file, b + "ffn_gate.weight", embd, ff),
                Up = Matrix(file, b + "ffn_up.weight", embd, fusedGateUp ? 2 * ff : ff),
                Down = Matrix(file, b + "ffn_down.weight", ff, embd),
                PostFfnNorm = OptionalVector(file, b + "post_ffw_norm.weight", embd),
            };
        }
        var embedding = Matrix(file, "token_embd.weight", embd, c.VocabularySize);
        var output = file.FindTensor("output.weight") is null ? embedding : Matrix(file, "output.weight", embd, c.VocabularySize);
        return new ModelWeights
        {
            Formats = fs,
            TokenEmbedding = embedding,
            Layers = layers,
            OutputNorm = Vector(file, "output_norm.weight", embd),
            Output = output,
            RopeFrequencyFactors = OptionalVector(file, "rope_freqs.weight", c.RopeDimensions / 2)
                                   ?? OptionalVector(file, "rope_factors_short.weight", c.RopeDimensions / 2),
            LongRopeFrequencyFactors = OptionalVector(file, "rope_factors_long.weight", c.RopeDimensions / 2),
        };
    }

    /// <summary>
    /// Moves the matrices of the layers the CPU runs (from <paramref name="firstLayer"/> on, and the output matrix when
    /// <paramref name="output"/>) into the native kernels' interleaved layouts where one applies (Q4_K, eight rows at a time;
    /// see <see cref="InterleavedQ4KFormat"/>). Each copy replaces its mapped pages, which are released, so
    /// the resident size stays that of the file. The caller skips it when interleaving is off
    /// (<see cref="CompactModelOptions.InterleaveWeights"/>); matrices of the managed kernels are never interleaved.
    /// </summary>
    /// <param name="file">The mapped file.</param>
    /// <param name="firstLayer">The first layer the CPU runs.</param>
    /// <param name="output">Whether the CPU runs the output matrix.</param>
    /// <param name="cancellationToken">Stops between layers (<see cref="OperationCanceledException"/>); copies made so far are freed by <see cref="Dispose"/>.</param>
    /// <param name="progress">Called with the share of layers done, in (0, 1].</param>
    public void InterleaveForCpu(GgufFile file, int firstLayer, bool output, CancellationToken cancellationToken = default, Action<float>? progress = null)
    {
        int total = Math.Max(1, Layers.Length - firstLayer), done = 0;
        var reportLock = new Lock();
        // Layers in parallel: the copy is bound by reading the file's pages (about 1 GB/s per core from the page cache).
        Parallel.For(firstLayer, Layers.Length, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            var l = Layers[i];
            Layers[i] = l with
            {
                Qkv = Interleave(file, l.Qkv), Query = Interleave(file, l.Query), Key = Interleave(file, l.Key),
                Value = Interleave(file, l.Value), Output = Interleave(file, l.Output)!.Value, Gate = Interleave(file, l.Gate),
                Up = Interleave(file, l.Up)!.Value, Down = Interleave(file, l.Down)!.Value,
            };
            if (progress is null) return;
            lock (reportLock)
            {
                // Counted and reported under one lock: one report per layer, and the values a caller sees never go down.
                progress((float)++done / total);
            }
        });
        if (output && Output.Data != TokenEmbedding.Data) Output = Interleave(file, Output)!.Value;
    }

    private WeightMatrix? Interleave(GgufFile file, WeightMatrix? matrix)
    {
        if (matrix is not { } w || !InterleavedQ4KFormat.CanInterleave(w)) return matrix;
        long bytes = InterleavedQ4KFormat.ByteCount(w);
        byte* copy = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        lock (_copies) _copies.Add((nint)copy);
        var interleaved = InterleavedQ4KFormat.Interleave(w, copy);
        file.ReleasePages(w.Data, bytes);
        return interleaved;
    }

    /// <summary>Frees the interleaved copies. The model's sessions must be gone.</summary>
    public void Dispose()
    {
        foreach (var p in _copies) NativeMemory.AlignedFree((void*)p);
        _copies.Clear();
    }

    /// <summary>A 2-D tensor of GGUF shape [<paramref name="columns"/>, <paramref name="rows"/>].</summary>
    internal static WeightMatrix Matrix(GgufFile file, string name, int columns, int rows, FormatSet? formats = null)
    {
        var t = file.GetTensor(name);
        if (t.Dimensions.Count != 2 || t.Dimensions[0] != columns || t.Dimensions[1] != rows)
            throw new GgufFormatException($"tensor '{name}' has shape [{string.Join(", ", t.Dimensions)}], expected [{columns}, {rows}]", name, -1, file.FilePath);
        var format = (formats ?? FormatSet.Default).For(t.Type);
        return new WeightMatrix(file.GetTensorPointer(t), rows, columns, format);
    }

    /// <summary>A 1-D tensor of <paramref name="length"/> elements, expanded to floats.</summary>
    internal static float[] Vector(GgufFile file, string name, int length)
    {
        var t = file.GetTensor(name);
        if (t.ElementCount != length || t.Dimensions[0] != length)
            throw new GgufFormatException($"tensor '{name}' has shape [{string.Join(", ", t.Dimensions)}], expected [{length}]", name, -1, file.FilePath);
        var result = new float[length];
        TensorFormat.For(t.Type).Dequantize(file.GetTensorBytes(t), result);
        return result;
    }

    private static float[]? OptionalVector(GgufFile file, string name, int length) =>
        file.FindTensor(name) is null ? null : Vector(file, name, length);
}
