using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using CompactAI.Gguf;

namespace CompactAI.Tensors.Quantization;

/// <summary>
/// Converts a GGUF model to another tensor type mix, as llama.cpp's <c>llama-quantize</c> does (without an importance matrix:
/// every block goes through the reference quantizer, so a <see cref="QuantizationOptions.Pure"/> run matches
/// <c>llama-quantize --pure</c> byte for byte in the tensor data).
/// </summary>
/// <remarks>
/// <para><b>Which tensors are converted</b> (llama.cpp's <c>tensor_allows_quantization</c>): tensors with at least two non-trivial
/// dimensions whose name ends in <c>weight</c>, except norms (<c>*_norm.weight</c>), MoE routers (<c>ffn_gate_inp</c>), position /
/// token-type embeddings, and a list of small architecture-specific tensors (SSM conv1d, RWKV time-mix, T5 relative bias, ...).
/// Everything else (1-D norms and biases in particular) is copied in its original type, normally F32. A tensor whose chosen type
/// equals its current type is copied unchanged.</para>
/// <para><b>Type selection for the block-quantized presets</b> (llama.cpp's <c>llama_tensor_get_type</c>), tensors visited in
/// llama.cpp's order (by layer number, then name):</para>
/// <list type="bullet">
/// <item><c>output.weight</c>, and <c>token_embd.weight</c> when there is no <c>output.weight</c> (tied embeddings): Q8_0 when its row
/// length is not a multiple of the base type's block (or the arch is falcon), otherwise Q6_K unless the base type is Q8_0.</item>
/// <item>attn_v (and fused attn_qkv / attn_kv_b): Q4_K_M and Q5_K_M use Q6_K where <c>use_more_bits(i, n)</c> holds, with i the
/// index among those tensors and n their count: i &lt; n/8, i ≥ 7n/8, or (i − n/8) mod 3 = 2, i.e. the first and last eighth and every
/// third layer between (about half). Q4_K_S uses Q5_K for the first four. With 8 experts, Q8_0.</item>
/// <item>attn_k: Q8_0 with 8 experts.</item>
/// <item>ffn_down (layer i of <c>block_count</c>): Q4_K_M: Q6_K where <c>use_more_bits</c> (falcon: Q6_K for i &lt; n/16, Q5_K where
/// <c>use_more_bits</c>); Q5_K_M: Q6_K where <c>use_more_bits</c>; Q4_K_S: Q5_K for i &lt; n/8 (not falcon).</item>
/// <item>attn_output: Q5_K for Q4_K_S / Q4_K_M models with 8 experts.</item>
/// <item>Everything else: the base type (Q4_K for Q4_K_*, Q5_K for Q5_K_*). llama.cpp's 70B-only rule (attn_v Q4_K → Q5_K) needs
/// its model-size detection and is not applied.</item>
/// </list>
/// <para><b>Row-length fallbacks</b> (<c>tensor_type_fallback</c>, applied in pure mode too): when the row length is not a multiple
/// of the chosen type's block, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0 (Q2_K/Q3_K → Q4_0); if even that block does not divide the
/// row, F16.</para>
/// <para>F16 and BF16 presets convert the eligible tensors to that type with no mix rules. Metadata is copied in order, without
/// split keys; <c>general.quantization_version</c> (2) and <c>general.file_type</c> (the LLAMA_FTYPE number of the preset) are
/// appended, as llama.cpp's <c>gguf_set_val_u32</c> does.</para>
/// </remarks>
public static class ModelQuantizer
{
    /// <summary>ggml's <c>GGML_QNT_VERSION</c>, written as <c>general.quantization_version</c>.</summary>
    public const uint QuantizationVersion = 2;

    /// <summary>Quantizes <paramref name="inputPath"/> into <paramref name="outputPath"/> with llama-quantize's default rules.</summary>
    /// <param name="inputPath">A GGUF model (F32 / F16 / BF16 tensors, or already-quantized ones that need no change).</param>
    /// <param name="outputPath">The GGUF file to write (overwritten).</param>
    /// <param name="preset">The target mix.</param>
    /// <param name="progress">Receives the fraction of tensor data processed, 0 to 1.</param>
    /// <param name="ct">Cancels between row chunks; the output file is then deleted.</param>
    /// <exception cref="InvalidOperationException">A tensor is already block-quantized and would need requantizing.</exception>
    public static void Quantize(string inputPath, string outputPath, QuantizationPreset preset, IProgress<float>? progress = null, CancellationToken ct = default) =>
        Quantize(inputPath, outputPath, preset, new QuantizationOptions(), progress, ct);

    /// <summary>Quantizes <paramref name="inputPath"/> into <paramref name="outputPath"/>.</summary>
    /// <param name="inputPath">A GGUF model.</param>
    /// <param name="outputPath">The GGUF file to write (overwritten).</param>
    /// <param name="preset">The target mix.</param>
    /// <param name="options">Pure mode, requantization, threads.</param>
    /// <param name="progress">Receives the fraction of tensor data processed, 0 to 1.</param>
    /// <param name="ct">Cancels between row chunks; the output file is then deleted.</param>
    /// <exception cref="InvalidOperationException">A tensor is already block-quantized and <see cref="QuantizationOptions.AllowRequantize"/> is off.</exception>
    public static void Quantize(string inputPath, string outputPath, QuantizationPreset preset, QuantizationOptions options,
        IProgress<float>? progress = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        ArgumentNullException.ThrowIfNull(options);
        if (!Enum.IsDefined(preset)) throw new ArgumentOutOfRangeException(nameof(preset), preset, "Unknown preset.");
        if (string.Equals(Path.GetFullPath(inputPath), Path.GetFullPath(outputPath), StringComparison.Ordinal))
            throw new ArgumentException("The output must be a different file from the input.", nameof(outputPath));

        using var input = GgufFile.Open(inputPath);
        var plan = Plan(input, preset, options);
        foreach (var (tensor, type) in plan)
        {
            if (type != tensor.Type && IsBlockQuantized(tensor.Type) && !options.AllowRequantize)
                throw new InvalidOperationException($"Tensor '{tensor.Name}' is already {tensor.Type}; requantizing it to {type} is disabled (set AllowRequantize).");
            if (type != tensor.Type && !TensorFormat.IsSupported(tensor.Type))
                throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.Type}, which this engine cannot dequantize.");
        }

        var writer = new GgufWriter(input.Alignment);
        foreach (var (key, value) in input.Metadata)
        {
            if (key is "general.alignment" or "general.quantization_version" or "general.file_type" or "split.no" or "split.count" or "split.tensors.count") continue;
            writer.Add(key, value);
        }
        writer.Add("general.quantization_version", QuantizationVersion);
        writer.Add("general.file_type", FileType(preset));

        long total = Math.Max(1, plan.Sum(p => p.Tensor.ByteCount)), done = 0;
        progress?.Report(0f);
        int threads = Math.Max(1, options.MaxDegreeOfParallelism ?? Environment.ProcessorCount);
        try
        {
            foreach (var (tensor, type) in plan)
            {
                ct.ThrowIfCancellationRequested();
                var dims = tensor.Dimensions.ToArray();
                if (type == tensor.Type)
                {
                    writer.AddTensor(tensor.Name, type, dims, new MappedMemory(input, tensor).Memory);
                }
                else
                {
                    writer.AddTensor(tensor.Name, type, dims, Convert(input, tensor, type, threads, ct));
                }
                done += tensor.ByteCount;
                progress?.Report((float)done / total);
            }
            ct.ThrowIfCancellationRequested();
            writer.WriteTo(outputPath);
        }
        catch (OperationCanceledException)
        {
            TryDelete(outputPath);
            throw;
        }
        progress?.Report(1f);
    }

    /// <summary>llama.cpp's <c>LLAMA_FTYPE_MOSTLY_*</c> number for <paramref name="preset"/>, stored as <c>general.file_type</c>.</summary>
    public static uint FileType(QuantizationPreset preset) => preset switch
    {
        QuantizationPreset.F16 => 1,
        QuantizationPreset.Q4_0 => 2,
        QuantizationPreset.Q4_1 => 3,
        QuantizationPreset.Q8_0 => 7,
        QuantizationPreset.Q5_0 => 8,
        QuantizationPreset.Q5_1 => 9,
        QuantizationPreset.Q4_K_S => 14,
        QuantizationPreset.Q4_K_M => 15,
        QuantizationPreset.Q5_K_S => 16,
        QuantizationPreset.Q5_K_M => 17,
        QuantizationPreset.Q6_K => 18,
        QuantizationPreset.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "Unknown preset."),
    };

    /// <summary>The type 2-D weights get by default (llama.cpp's <c>llama_ftype_get_default_type</c>).</summary>
    public static GgmlType BaseType(QuantizationPreset preset) => preset switch
    {
        QuantizationPreset.F16 => GgmlType.F16,
        QuantizationPreset.BF16 => GgmlType.BF16,
        QuantizationPreset.Q8_0 => GgmlType.Q8_0,
        QuantizationPreset.Q4_0 => GgmlType.Q4_0,
        QuantizationPreset.Q4_1 => GgmlType.Q4_1,
        QuantizationPreset.Q5_0 => GgmlType.Q5_0,
        QuantizationPreset.Q5_1 => GgmlType.Q5_1,
        QuantizationPreset.Q4_K_M or QuantizationPreset.Q4_K_S => GgmlType.Q4_K,
        QuantizationPreset.Q5_K_M or QuantizationPreset.Q5_K_S => GgmlType.Q5_K,
        QuantizationPreset.Q6_K => GgmlType.Q6_K,
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "Unknown preset."),
    };

    /// <summary>Every tensor of <paramref name="file"/> in output order, with the type it will be written in.</summary>
    internal static List<(GgufTensorInfo Tensor, GgmlType Type)> Plan(GgufFile file, QuantizationPreset preset, QuantizationOptions options) =>
        Plan(file.Metadata, file.Tensors, preset, options);

    /// <summary>The same plan for tensors described by name and shape only (the synthetic-model writer uses it).</summary>
    internal static List<(GgufTensorInfo Tensor, GgmlType Type)> Plan(GgufMetadata metadata, IReadOnlyList<GgufTensorInfo> allTensors, QuantizationPreset preset, QuantizationOptions options)
    {
        var tensors = allTensors.OrderBy(t => t.Name, LlamaTensorOrder.Instance).ToList();
        var baseType = BaseType(preset);
        var state = new MixState(metadata, tensors);
        var plan = new List<(GgufTensorInfo, GgmlType)>(tensors.Count);
        foreach (var t in tensors)
        {
            var type = t.Type;
            if (AllowsQuantization(t))
            {
                type = baseType;
                if (IsBlockQuantized(baseType))
                {
                    if (!options.Pure) type = MixType(state, t, baseType, preset);
                    type = Fallback(t.RowLength, type);
                }
            }
            plan.Add((t, type));
        }
        return plan;
    }

    private static bool IsBlockQuantized(GgmlType type) => GgmlTypeInfo.BlockSize(type) > 1;

    private static readonly string[] s_neverQuantized =
    [
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight",
        "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_",
        ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
    ];

    /// <summary>llama.cpp's <c>tensor_allows_quantization</c> (with the output tensor quantized, its default).</summary>
    private static bool AllowsQuantization(GgufTensorInfo t)
    {
        int nDims = 1;
        for (int i = t.Dimensions.Count - 1; i >= 1; i--)
        {
            if (t.Dimensions[i] > 1) { nDims = i + 1; break; }
        }
        if (nDims < 2) return false;
        var name = t.Name;
        if (!name.EndsWith("weight", StringComparison.Ordinal)) return false;
        if (name is "position_embd.weight" or "token_types.weight") return false;
        foreach (var s in s_neverQuantized)
        {
            if (name.Contains(s, StringComparison.Ordinal)) return false;
        }
        return true;
    }

    private enum Category { TokenEmbd, AttnQ, AttnV, AttnK, AttnQkv, AttnKvB, AttnOutput, FfnUp, FfnGate, FfnDown, Output, Other }

    private static Category CategoryOf(string name)
    {
        if (name == "output.weight") return Category.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return Category.TokenEmbd;
        if (name.Contains("attn_qkv.weight", StringComparison.Ordinal)) return Category.AttnQkv;
        if (name.Contains("attn_kv_b.weight", StringComparison.Ordinal)) return Category.AttnKvB;
        if (name.Contains("attn_v.weight", StringComparison.Ordinal)) return Category.AttnV;
        if (name.Contains("attn_k.weight", StringComparison.Ordinal)) return Category.AttnK;
        if (name.Contains("attn_q.weight", StringComparison.Ordinal)) return Category.AttnQ;
        if (name.Contains("attn_output.weight", StringComparison.Ordinal)) return Category.AttnOutput;
        if (name.Contains("ffn_up", StringComparison.Ordinal)) return Category.FfnUp;
        if (name.Contains("ffn_gate", StringComparison.Ordinal)) return Category.FfnGate;
        if (name.Contains("ffn_down", StringComparison.Ordinal)) return Category.FfnDown;
        return Category.Other;
    }

    private static bool IsAttnV(Category c) => c is Category.AttnV or Category.AttnQkv or Category.AttnKvB;

    /// <summary>Counters and model facts the mix rules read (llama.cpp's <c>quantize_state_impl</c>).</summary>
    private sealed class MixState
    {
        public MixState(GgufMetadata md, List<GgufTensorInfo> tensors)
        {
            Arch = md.GetString("general.architecture", "") ?? "";
            Experts = Math.Max(1, (int)GetCount(md, $"{Arch}.expert_count"));
            long blocks = GetCount(md, $"{Arch}.block_count");
            if (blocks <= 0) blocks = tensors.Select(t => LayerOf(t.Name)).DefaultIfEmpty(-1).Max() + 1;
            Layers = (int)blocks;
            foreach (var t in tensors)
            {
                var c = CategoryOf(t.Name);
                if (IsAttnV(c)) AttnVCount++;
                if (c == Category.Output) TiedEmbeddings = false;
            }
        }

        public string Arch { get; }
        public int Experts { get; }
        public int Layers { get; }
        public int AttnVCount { get; }
        public bool TiedEmbeddings { get; } = true;
        public int AttnVIndex;
        public int FfnDownIndex;

        private static long GetCount(GgufMetadata md, string key)
        {
            if (!md.TryGetValue(key, out var v)) return 0;
            return v.Value switch
            {
                byte x => x, sbyte x => x, ushort x => x, short x => x, uint x => x, int x => x,
                ulong x => (long)Math.Min(x, int.MaxValue), long x => x,
                _ => 0,
            };
        }
    }

    /// <summary>The first, last eighth and every third layer between: about half the layers get more bits.</summary>
    internal static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    /// <summary>llama.cpp's <c>llama_tensor_get_type_impl</c>, restricted to the presets offered here.</summary>
    private static GgmlType MixType(MixState qs, GgufTensorInfo t, GgmlType type, QuantizationPreset preset)
    {
        var category = CategoryOf(t.Name);
        bool falcon = qs.Arch == "falcon";
        if (category == Category.Output || (qs.TiedEmbeddings && category == Category.TokenEmbd))
        {
            if (falcon || t.RowLength % GgmlTypeInfo.BlockSize(type) != 0) return GgmlType.Q8_0;
            return type != GgmlType.Q8_0 ? GgmlType.Q6_K : type;
        }
        if (category == Category.TokenEmbd) return type;
        if (IsAttnV(category))
        {
            if (preset is QuantizationPreset.Q4_K_M or QuantizationPreset.Q5_K_M && UseMoreBits(qs.AttnVIndex, qs.AttnVCount)) type = GgmlType.Q6_K;
            else if (preset == QuantizationPreset.Q4_K_S && qs.AttnVIndex < 4) type = GgmlType.Q5_K;
            if (qs.Experts == 8) type = GgmlType.Q8_0;
            qs.AttnVIndex++;
            return type;
        }
        if (category == Category.AttnK) return qs.Experts == 8 ? GgmlType.Q8_0 : type;
        if (category == Category.FfnDown)
        {
            int layer = qs.Experts > 1 ? LayerOf(t.Name) : qs.FfnDownIndex, n = qs.Layers;
            if (preset == QuantizationPreset.Q4_K_M)
            {
                if (falcon) type = layer < n / 16 ? GgmlType.Q6_K : UseMoreBits(layer, n) ? GgmlType.Q5_K : GgmlType.Q4_K;
                else if (UseMoreBits(layer, n)) type = GgmlType.Q6_K;
            }
            else if (preset == QuantizationPreset.Q5_K_M && UseMoreBits(layer, n)) type = GgmlType.Q6_K;
            else if (preset == QuantizationPreset.Q4_K_S && !falcon && layer < n / 8) type = GgmlType.Q5_K;
            qs.FfnDownIndex++;
            return type;
        }
        if (category == Category.AttnOutput && !falcon && qs.Experts == 8 && preset is QuantizationPreset.Q4_K_S or QuantizationPreset.Q4_K_M)
        {
            return GgmlType.Q5_K;
        }
        return type;
    }

    /// <summary>llama.cpp's <c>tensor_type_fallback</c>: a type whose block divides the row length.</summary>
    internal static GgmlType Fallback(long rowLength, GgmlType type)
    {
        if (rowLength % GgmlTypeInfo.BlockSize(type) == 0) return type;
        var fallback = type switch
        {
            GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => type,
        };
        return rowLength % GgmlTypeInfo.BlockSize(fallback) == 0 ? fallback : GgmlType.F16;
    }

    /// <summary>The <c>blk.N.</c> layer number of a tensor name, or −1 (as llama.cpp's <c>sscanf("blk.%d.")</c>).</summary>
    private static int LayerOf(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
        int end = 4;
        if (end < name.Length && name[end] is '-' or '+') end++;
        while (end < name.Length && char.IsAsciiDigit(name[end])) end++;
        return int.TryParse(name.AsSpan(4, end - 4), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int layer) ? layer : -1;
    }

    /// <summary>llama.cpp's <c>weight_name_comparer</c>: by layer number (non-layer tensors first), then by name bytes.</summary>
    private sealed class LlamaTensorOrder : IComparer<string>
    {
        public static readonly LlamaTensorOrder Instance = new();

        public int Compare(string? a, string? b)
        {
            int la = LayerOf(a!), lb = LayerOf(b!);
            return la != lb ? la.CompareTo(lb) : string.CompareOrdinal(a, b);
        }
    }

    /// <summary>Converts one tensor: rows dequantized to f32 (unless already f32) and quantized into <paramref name="type"/>, in parallel chunks.</summary>
    private static unsafe byte[] Convert(GgufFile file, GgufTensorInfo tensor, GgmlType type, int threads, CancellationToken ct)
    {
        var src = TensorFormat.For(tensor.Type);
        var dst = TensorFormat.For(type);
        if (!dst.CanQuantize) throw new NotSupportedException($"Quantizing to {type} is not supported.");
        long n = tensor.RowLength, rows = tensor.RowCount;
        long srcRow = GgmlTypeInfo.RowBytes(tensor.Type, n), dstRow = GgmlTypeInfo.RowBytes(type, n);
        long outBytes = checked(dstRow * rows);
        if (outBytes > Array.MaxLength) throw new NotSupportedException($"Tensor '{tensor.Name}' would take {outBytes} bytes as {type}, more than one array holds.");
        var output = GC.AllocateUninitializedArray<byte>((int)outBytes);
        byte* basePtr = file.GetTensorPointer(tensor);
        // Chunks of about 64K elements keep per-chunk buffers small and the workers evenly loaded.
        long rowsPerChunk = Math.Max(1, 65536 / Math.Max(1, n));
        long chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        var po = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = ct };
        Parallel.For(0L, chunks, po, () => new float[n], (chunk, _, row) =>
        {
            long r0 = chunk * rowsPerChunk, r1 = Math.Min(rows, r0 + rowsPerChunk);
            for (long r = r0; r < r1; r++)
            {
                var srcBytes = new ReadOnlySpan<byte>(basePtr + r * srcRow, (int)srcRow);
                ReadOnlySpan<float> values;
                if (tensor.Type == GgmlType.F32) values = MemoryMarshal.Cast<byte, float>(srcBytes);
                else
                {
                    src.Dequantize(srcBytes, row);
                    values = row;
                }
                dst.Quantize(values, output.AsSpan((int)(r * dstRow), (int)dstRow));
            }
            return row;
        }, _ => { });
        return output;
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path)) File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>An unchanged tensor's bytes exposed as <see cref="Memory{T}"/> without copying (valid while the file is open).</summary>
    internal sealed unsafe class MappedMemory(GgufFile file, GgufTensorInfo tensor) : MemoryManager<byte>
    {
        private readonly byte* _pointer = CheckSize(file, tensor);
        private readonly int _length = (int)tensor.ByteCount;

        private static byte* CheckSize(GgufFile file, GgufTensorInfo tensor)
        {
            if (tensor.ByteCount > int.MaxValue) throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteCount} bytes; tensors over 2 GiB cannot be copied.");
            return file.GetTensorPointer(tensor);
        }

        public override Span<byte> GetSpan() => new(_pointer, _length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
