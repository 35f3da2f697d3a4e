using System.Runtime.InteropServices;
using CompactAI.Gguf;
using CompactAI.Tensors;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Models.Synthetic;

/// <summary>
/// Writes random-weight GGUF models with real shapes and a real tokenizer vocabulary (copied from a vocab GGUF and padded
/// with unused tokens to the shape's vocabulary size), quantized with the same type mix <see cref="ModelQuantizer"/>
/// (and llama-quantize) would choose. Weights are uniform with standard deviation 0.02 (norm gains 1, biases 0.02),
/// generated row by row and quantized directly, so even 1B-parameter files never exist in F32.
/// </summary>
internal static class SyntheticModel
{
    /// <summary>Writes <paramref name="shape"/> in <paramref name="preset"/> to <paramref name="outputPath"/>.</summary>
    /// <param name="shape">The model shape.</param>
    /// <param name="preset">The quantization (F16, BF16, Q8_0, Q4_K_M, ... as llama-quantize names them; "F32" via null).</param>
    /// <param name="vocabularyPath">A GGUF holding <c>tokenizer.ggml.*</c> (e.g. llama.cpp's ggml-vocab-gpt-2.gguf).</param>
    /// <param name="outputPath">Where to write.</param>
    /// <param name="seed">Seed of the weights.</param>
    /// <param name="cancellationToken">Cancels the generation.</param>
    public static void Write(ModelShape shape, QuantizationPreset? preset, string vocabularyPath, string outputPath, ulong seed = 1,
        CancellationToken cancellationToken = default)
    {
        using var vocab = GgufFile.Open(vocabularyPath);
        var metadata = new GgufMetadata(null);
        var writerOrder = new List<(string Key, GgufValue Value)>();
        void Add(string key, GgufValue value)
        {
            metadata.TryAdd(key, value);
            writerOrder.Add((key, value));
        }

        string a = shape.Architecture;
        var tokenKeys = CopyVocabulary(vocab, shape, out int vocabSize);
        Add("general.architecture", new GgufValue(GgufValueType.String, a));
        Add("general.name", new GgufValue(GgufValueType.String, ModelName(shape, vocab)));
        Add($"{a}.context_length", new GgufValue(GgufValueType.UInt32, (uint)shape.Context));
        Add($"{a}.embedding_length", new GgufValue(GgufValueType.UInt32, (uint)shape.Embedding));
        Add($"{a}.block_count", new GgufValue(GgufValueType.UInt32, (uint)shape.Layers));
        Add($"{a}.feed_forward_length", new GgufValue(GgufValueType.UInt32, (uint)shape.FeedForward));
        Add($"{a}.attention.head_count", new GgufValue(GgufValueType.UInt32, (uint)shape.Heads));
        Add($"{a}.attention.head_count_kv", new GgufValue(GgufValueType.UInt32, (uint)shape.KvHeads));
        Add($"{a}.rope.freq_base", new GgufValue(GgufValueType.Float32, shape.RopeBase));
        Add($"{a}.attention.layer_norm_rms_epsilon", new GgufValue(GgufValueType.Float32, shape.RmsEpsilon));
        if (shape.HeadDim > 0)
        {
            Add($"{a}.attention.key_length", new GgufValue(GgufValueType.UInt32, (uint)shape.HeadDim));
            Add($"{a}.attention.value_length", new GgufValue(GgufValueType.UInt32, (uint)shape.HeadDim));
        }
        if (a is "llama") Add($"{a}.rope.dimension_count", new GgufValue(GgufValueType.UInt32, (uint)shape.KeyLength));
        if (a is "gemma2" or "gemma3") Add($"{a}.attention.sliding_window", new GgufValue(GgufValueType.UInt32, 8u));
        if (a is "gemma2")
        {
            Add("gemma2.attn_logit_softcapping", new GgufValue(GgufValueType.Float32, shape.AttentionSoftcap));
            Add("gemma2.final_logit_softcapping", new GgufValue(GgufValueType.Float32, shape.FinalLogitSoftcap));
        }
        if (shape.LongRopeOriginalContext > 0)
        {
            float attnFactor = MathF.Sqrt(1 + MathF.Log((float)shape.Context / shape.LongRopeOriginalContext) / MathF.Log(shape.LongRopeOriginalContext));
            Add($"{a}.rope.scaling.attn_factor", new GgufValue(GgufValueType.Float32, attnFactor));
            Add($"{a}.rope.scaling.original_context_length", new GgufValue(GgufValueType.UInt32, (uint)shape.LongRopeOriginalContext));
        }
        foreach (var (key, value) in tokenKeys) Add(key, value);
        if (preset is { } p) Add("general.file_type", new GgufValue(GgufValueType.UInt32, ModelQuantizer.FileType(p)));

        var tensors = Describe(shape, vocabSize);
        var infos = tensors.Select(t => new GgufTensorInfo(t.Name, t.Dims, GgmlType.F32, 0, 0, t.Dims.Aggregate(1L, (x, y) => x * y), 0)).ToList();
        var plan = preset is { } pr
            ? ModelQuantizer.Plan(metadata, infos, pr, new QuantizationOptions())
            : infos.Select(i => (Tensor: i, Type: GgmlType.F32)).ToList();

        var writer = new GgufWriter();
        foreach (var (key, value) in writerOrder) writer.Add(key, value);
        var kinds = tensors.ToDictionary(t => t.Name, t => t.Kind);
        ulong index = 0;
        foreach (var (info, type) in plan)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var dims = info.Dimensions.ToArray();
            var data = Generate(kinds[info.Name], dims, type, seed * 1_000_003UL + index++, shape, cancellationToken);
            writer.AddTensor(info.Name, type, dims, data);
        }
        writer.WriteTo(outputPath);
    }

    private enum Kind { Matrix, Gain, Bias, RopeFactors, LongRopeShort, LongRopeLong }

    private static List<(string Name, long[] Dims, Kind Kind)> Describe(ModelShape s, int vocab)
    {
        int e = s.Embedding, hd = s.KeyLength, q = s.Heads * hd, kv = s.KvHeads * hd, ff = s.FeedForward;
        var list = new List<(string, long[], Kind)>
        {
            ("token_embd.weight", [e, vocab], Kind.Matrix),
            ("output_norm.weight", [e], Kind.Gain),
        };
        if (s.Llama3RopeScaling) list.Add(("rope_freqs.weight", [hd / 2], Kind.RopeFactors));
        if (s.LongRopeOriginalContext > 0)
        {
            list.Add(("rope_factors_long.weight", [hd / 2], Kind.LongRopeLong));
            list.Add(("rope_factors_short.weight", [hd / 2], Kind.LongRopeShort));
        }
        for (int i = 0; i < s.Layers; i++)
        {
            string b = $"blk.{i}.";
            list.Add((b + "attn_norm.weight", [e], Kind.Gain));
            if (s.Architecture == "phi3")
            {
                list.Add((b + "attn_qkv.weight", [e, q + 2 * kv], Kind.Matrix));
            }
            else
            {
                list.Add((b + "attn_q.weight", [e, q], Kind.Matrix));
                list.Add((b + "attn_k.weight", [e, kv], Kind.Matrix));
                list.Add((b + "attn_v.weight", [e, kv], Kind.Matrix));
            }
            if (s.Architecture == "qwen2")
            {
                list.Add((b + "attn_q.bias", [q], Kind.Bias));
                list.Add((b + "attn_k.bias", [kv], Kind.Bias));
                list.Add((b + "attn_v.bias", [kv], Kind.Bias));
            }
            if (s.Architecture is "qwen3" or "gemma3")
            {
                list.Add((b + "attn_q_norm.weight", [hd], Kind.Gain));
                list.Add((b + "attn_k_norm.weight", [hd], Kind.Gain));
            }
            list.Add((b + "attn_output.weight", [q, e], Kind.Matrix));
            if (s.Architecture is "gemma2" or "gemma3") list.Add((b + "post_attention_norm.weight", [e], Kind.Gain));
            list.Add((b + "ffn_norm.weight", [e], Kind.Gain));
            if (s.Architecture == "phi3")
            {
                list.Add((b + "ffn_up.weight", [e, 2 * ff], Kind.Matrix));
            }
            else
            {
                list.Add((b + "ffn_gate.weight", [e, ff], Kind.Matrix));
                list.Add((b + "ffn_up.weight", [e, ff], Kind.Matrix));
            }
            list.Add((b + "ffn_down.weight", [ff, e], Kind.Matrix));
            if (s.Architecture is "gemma2" or "gemma3") list.Add((b + "post_ffw_norm.weight", [e], Kind.Gain));
        }
        return list;
    }

    private static byte[] Generate(Kind kind, long[] dims, GgmlType type, ulong seed, ModelShape shape, CancellationToken ct)
    {
        int rowLength = (int)dims[0];
        long rows = dims.Skip(1).Aggregate(1L, (x, y) => x * y);
        var format = TensorFormat.For(type);
        long rowBytes = format.RowBytes(rowLength);
        var data = GC.AllocateUninitializedArray<byte>(checked((int)(rowBytes * rows)));
        if (kind is Kind.RopeFactors or Kind.LongRopeShort or Kind.LongRopeLong)
        {
            var f = kind == Kind.RopeFactors ? Llama3RopeFactors(shape.KeyLength, shape.RopeBase) : LongRopeFactors(rowLength, kind == Kind.LongRopeLong);
            format.Quantize(f, data);
            return data;
        }
        Parallel.For(0, (int)rows, new ParallelOptions { CancellationToken = ct }, () => new float[rowLength], (r, _, row) =>
        {
            ulong state = (seed ^ 0x9E3779B97F4A7C15UL) + (ulong)r * 0xBF58476D1CE4E5B9UL;
            for (int i = 0; i < rowLength; i++)
            {
                // splitmix64 → uniform in [−√3·σ, √3·σ): σ = 0.02 for weights and biases.
                state += 0x9E3779B97F4A7C15UL;
                ulong z = state;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                float u = (z >> 40) * (1.0f / (1 << 24)) * 2 - 1;
                row[i] = kind == Kind.Gain ? 1.0f + 0.1f * u : 0.0346f * u;
            }
            format.Quantize(row, data.AsSpan((int)(r * rowBytes), (int)rowBytes));
            return row;
        }, _ => { });
        return data;
    }

    /// <summary>
    /// LongRoPE-like per-pair divisors, growing with the wavelength as Phi-3's do: short ones from 1 to 1.35, long ones
    /// from 1 to 1 + (n − 1)².
    /// </summary>
    private static float[] LongRopeFactors(int pairs, bool isLong)
    {
        var result = new float[pairs];
        for (int i = 0; i < pairs; i++) result[i] = isLong ? 1 + (float)i * i : 1 + 0.05f * i;
        return result;
    }

    /// <summary>Llama 3.1 rope scaling (factor 32, low/high frequency factors 1 and 4, original context 8192) as per-pair divisors.</summary>
    private static float[] Llama3RopeFactors(int headDim, float ropeBase)
    {
        const float factor = 32, low = 1, high = 4, original = 8192;
        var result = new float[headDim / 2];
        for (int i = 0; i < result.Length; i++)
        {
            double freq = 1.0 / Math.Pow(ropeBase, 2.0 * i / headDim);
            double wavelen = 2 * Math.PI / freq;
            double lowWavelen = original / low, highWavelen = original / high;
            if (wavelen < highWavelen) result[i] = 1;
            else if (wavelen > lowWavelen) result[i] = factor;
            else
            {
                double smooth = (original / wavelen - low) / (high - low);
                result[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
            }
        }
        return result;
    }

    /// <summary>
    /// <c>synthetic {shape}</c>. llama.cpp sets Phi-3's special-token attributes on any model whose name contains
    /// "phi3" or "phi-3", looking up the Phi-3 vocabulary's <c>&lt;/s&gt;</c>, and fails to load without it; with another
    /// vocabulary (GPT-2's by default) the name is written "phi 3" so the file loads as a real converted one would.
    /// </summary>
    private static string ModelName(ModelShape shape, GgufFile vocab)
    {
        string name = $"synthetic {shape.Name}";
        return vocab.Metadata.GetArray<string>("tokenizer.ggml.tokens").Contains("</s>") ? name : name.Replace("phi3", "phi 3", StringComparison.Ordinal);
    }

    /// <summary>The vocabulary's tokenizer keys, with tokens padded to the shape's size by unused <c>[PAD{i}]</c> tokens.</summary>
    private static List<(string Key, GgufValue Value)> CopyVocabulary(GgufFile vocab, ModelShape shape, out int size)
    {
        var m = vocab.Metadata;
        var tokens = m.GetArray<string>("tokenizer.ggml.tokens");
        size = Math.Max(tokens.Length, shape.Vocabulary);
        var result = new List<(string, GgufValue)>();
        foreach (var (key, value) in m)
        {
            if (!key.StartsWith("tokenizer.", StringComparison.Ordinal)) continue;
            if (key == "tokenizer.ggml.pre") continue;
            if (key is "tokenizer.ggml.tokens" or "tokenizer.ggml.token_type" or "tokenizer.ggml.scores")
            {
                result.Add((key, Pad(key, value, tokens.Length, size)));
                continue;
            }
            result.Add((key, value));
        }
        if (m.GetString("tokenizer.ggml.model", "") == "gpt2") result.Add(("tokenizer.ggml.pre", new GgufValue(GgufValueType.String, shape.Pre)));
        return result;
    }

    private static GgufValue Pad(string key, GgufValue value, int count, int size)
    {
        if (size == count) return value;
        switch (value.Value)
        {
            case string[] s:
                return new GgufValue(GgufValueType.Array, s.Concat(Enumerable.Range(count, size - count).Select(i => $"[PAD{i}]")).ToArray(), GgufValueType.String);
            case int[] types:
                return new GgufValue(GgufValueType.Array, types.Concat(Enumerable.Repeat(5, size - count)).ToArray(), GgufValueType.Int32);
            case float[] scores:
                return new GgufValue(GgufValueType.Array, scores.Concat(Enumerable.Repeat(0f, size - count)).ToArray(), GgufValueType.Float32);
            default:
                throw new GgufFormatException($"cannot pad {value.Type} array", key);
        }
    }
}
