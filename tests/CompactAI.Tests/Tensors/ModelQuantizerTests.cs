using System.Runtime.InteropServices;
using CompactAI.Gguf;
using CompactAI.Tensors;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Tensors;

public sealed class ModelQuantizerTests : IDisposable
{
    // The mix rules look at names, layer indices and row lengths only, so the matrices keep few rows (fast in Debug builds).
    private const int Layers = 8, Embd = 256, Ffn = 512, Rows = 16, Vocab = 64;
    private readonly string _dir = Directory.CreateTempSubdirectory("compactai-quant-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A llama-shaped F32 model: 8 layers, embedding 256, plus a 96-column and a 40-column tensor to hit the fallbacks.</summary>
    private string WriteModel(bool tiedEmbeddings = false, uint alignment = 32)
    {
        var w = new GgufWriter((int)alignment);
        w.Add("general.architecture", "llama");
        w.Add("general.name", "synthetic");
        w.Add("general.file_type", 0u);
        w.Add("llama.block_count", (uint)Layers);
        w.Add("llama.embedding_length", (uint)Embd);
        w.Add("tokenizer.ggml.tokens", Enumerable.Range(0, Vocab).Select(i => $"t{i}").ToArray());
        int seed = 100;
        void Add(string name, params long[] dims)
        {
            long n = dims.Aggregate(1L, (a, b) => a * b);
            w.AddTensor(name, dims, QuantFormatTests.Gaussian((int)n, seed++, 0.02f));
        }
        Add("token_embd.weight", Embd, Vocab);
        if (!tiedEmbeddings) Add("output.weight", Embd, Vocab);
        Add("output_norm.weight", Embd);
        for (int i = 0; i < Layers; i++)
        {
            Add($"blk.{i}.attn_norm.weight", Embd);
            Add($"blk.{i}.attn_q.weight", Embd, Rows);
            Add($"blk.{i}.attn_k.weight", Embd, Rows);
            Add($"blk.{i}.attn_v.weight", Embd, Rows);
            Add($"blk.{i}.attn_output.weight", Embd, Rows);
            Add($"blk.{i}.attn_q.bias", Embd);
            Add($"blk.{i}.ffn_norm.weight", Embd);
            Add($"blk.{i}.ffn_gate.weight", Embd, Rows);
            Add($"blk.{i}.ffn_up.weight", Embd, Rows);
            Add($"blk.{i}.ffn_down.weight", Ffn, Rows);
        }
        Add("blk.0.odd32.weight", 96, 4);   // 96 % 256 ≠ 0 but 96 % 32 = 0
        Add("blk.0.odd.weight", 40, 4);     // no block size divides 40
        Add("blk.0.column.weight", 256, 1); // 2-D in shape, 1-D in fact: never quantized
        var path = Path.Combine(_dir, $"model-{Guid.NewGuid():N}.gguf");
        w.WriteTo(path);
        return path;
    }

    private (GgufFile Input, GgufFile Output) Run(QuantizationPreset preset, QuantizationOptions? options = null, bool tied = false)
    {
        var input = WriteModel(tied);
        var output = Path.Combine(_dir, $"out-{Guid.NewGuid():N}.gguf");
        var reports = new List<float>();
        ModelQuantizer.Quantize(input, output, preset, options ?? new QuantizationOptions(), new SyncProgress(reports));
        Assert.Equal(1f, reports[^1]);
        Assert.True(reports.SequenceEqual(reports.Order()), "progress must not go backwards");
        return (GgufFile.Open(input), GgufFile.Open(output));
    }

    private sealed class SyncProgress(List<float> reports) : IProgress<float>
    {
        public void Report(float value) => reports.Add(value);
    }

    [Fact]
    public void Q4_K_M_FollowsLlamaCppMixRules()
    {
        var (input, output) = Run(QuantizationPreset.Q4_K_M);
        using (input)
        using (output)
        {
            // use_more_bits(i, 8): i < 1, i >= 7, or (i - 1) % 3 == 2 → layers 0, 3, 6, 7.
            int[] moreBits = [0, 3, 6, 7];
            for (int i = 0; i < Layers; i++)
            {
                var expected = moreBits.Contains(i) ? GgmlType.Q6_K : GgmlType.Q4_K;
                Assert.Equal(expected, output.GetTensor($"blk.{i}.attn_v.weight").Type);
                Assert.Equal(expected, output.GetTensor($"blk.{i}.ffn_down.weight").Type);
                Assert.Equal(GgmlType.Q4_K, output.GetTensor($"blk.{i}.attn_q.weight").Type);
                Assert.Equal(GgmlType.Q4_K, output.GetTensor($"blk.{i}.ffn_up.weight").Type);
                Assert.Equal(GgmlType.F32, output.GetTensor($"blk.{i}.attn_norm.weight").Type);
                Assert.Equal(GgmlType.F32, output.GetTensor($"blk.{i}.attn_q.bias").Type);
            }
            Assert.Equal(GgmlType.Q6_K, output.GetTensor("output.weight").Type);
            Assert.Equal(GgmlType.Q4_K, output.GetTensor("token_embd.weight").Type);
            Assert.Equal(GgmlType.Q5_0, output.GetTensor("blk.0.odd32.weight").Type);
            Assert.Equal(GgmlType.F16, output.GetTensor("blk.0.odd.weight").Type);
            Assert.Equal(GgmlType.F32, output.GetTensor("blk.0.column.weight").Type);
            Assert.Equal(15u, output.Metadata.GetUInt32("general.file_type"));
            Assert.Equal(2u, output.Metadata.GetUInt32("general.quantization_version"));
            Assert.Equal("synthetic", output.Metadata.GetString("general.name"));
            Assert.Equal(input.Metadata.GetArray<string>("tokenizer.ggml.tokens"), output.Metadata.GetArray<string>("tokenizer.ggml.tokens"));
            // As llama.cpp's gguf_set_val_u32: the two keys are removed and appended at the end.
            Assert.Equal(["general.quantization_version", "general.file_type"], output.Metadata.Keys.TakeLast(2));
            // llama.cpp's tensor order: non-layer tensors first, then by layer number (blk.2 before blk.10), then by name.
            Assert.Equal(output.Tensors.Select(t => t.Name).Take(4), ["output.weight", "output_norm.weight", "token_embd.weight", "blk.0.attn_k.weight"]);
        }
    }

    [Fact]
    public void QuantizedData_IsOurQuantizerOnEveryRow_AndCopiesTheRest()
    {
        var (input, output) = Run(QuantizationPreset.Q4_K_M);
        using (input)
        using (output)
        {
            foreach (var t in output.Tensors)
            {
                var src = input.GetTensor(t.Name);
                Assert.Equal(src.Dimensions, t.Dimensions);
                var bytes = output.GetTensorBytes(t);
                if (t.Type == src.Type)
                {
                    Assert.True(bytes.SequenceEqual(input.GetTensorBytes(src)), t.Name);
                    continue;
                }
                var values = MemoryMarshal.Cast<byte, float>(input.GetTensorBytes(src));
                var format = TensorFormat.For(t.Type);
                var expected = new byte[format.RowBytes(values.Length)];
                for (long r = 0; r < t.RowCount; r++)
                {
                    format.Quantize(values.Slice((int)(r * t.RowLength), (int)t.RowLength),
                        expected.AsSpan((int)(r * format.RowBytes(t.RowLength)), (int)format.RowBytes(t.RowLength)));
                }
                Assert.True(bytes.SequenceEqual(expected), t.Name);
            }
        }
    }

    [Theory]
    [InlineData(QuantizationPreset.Q4_K_S, 14u)]
    [InlineData(QuantizationPreset.Q5_K_M, 17u)]
    [InlineData(QuantizationPreset.Q5_K_S, 16u)]
    [InlineData(QuantizationPreset.Q6_K, 18u)]
    [InlineData(QuantizationPreset.Q4_0, 2u)]
    [InlineData(QuantizationPreset.Q8_0, 7u)]
    [InlineData(QuantizationPreset.F16, 1u)]
    [InlineData(QuantizationPreset.BF16, 32u)]
    public void Presets_PickLlamaCppTypes(QuantizationPreset preset, uint fileType)
    {
        var (input, output) = Run(preset);
        using (input)
        using (output)
        {
            Assert.Equal(fileType, output.Metadata.GetUInt32("general.file_type"));
            GgmlType Type(string name) => output.GetTensor(name).Type;
            switch (preset)
            {
                case QuantizationPreset.Q4_K_S:
                    // attn_v: Q5_K on the first four; ffn_down: Q5_K below n/8 = 1.
                    for (int i = 0; i < Layers; i++)
                    {
                        Assert.Equal(i < 4 ? GgmlType.Q5_K : GgmlType.Q4_K, Type($"blk.{i}.attn_v.weight"));
                        Assert.Equal(i < 1 ? GgmlType.Q5_K : GgmlType.Q4_K, Type($"blk.{i}.ffn_down.weight"));
                    }
                    Assert.Equal(GgmlType.Q6_K, Type("output.weight"));
                    break;
                case QuantizationPreset.Q5_K_M:
                    Assert.Equal(GgmlType.Q6_K, Type("blk.3.attn_v.weight"));
                    Assert.Equal(GgmlType.Q5_K, Type("blk.4.attn_v.weight"));
                    Assert.Equal(GgmlType.Q6_K, Type("blk.7.ffn_down.weight"));
                    Assert.Equal(GgmlType.Q5_1, Type("blk.0.odd32.weight"));
                    break;
                case QuantizationPreset.Q5_K_S:
                    Assert.Equal(GgmlType.Q5_K, Type("blk.3.attn_v.weight"));
                    Assert.Equal(GgmlType.Q6_K, Type("output.weight"));
                    break;
                case QuantizationPreset.Q6_K:
                    Assert.Equal(GgmlType.Q6_K, Type("blk.3.attn_v.weight"));
                    Assert.Equal(GgmlType.Q8_0, Type("blk.0.odd32.weight"));
                    break;
                case QuantizationPreset.Q4_0:
                    Assert.Equal(GgmlType.Q4_0, Type("blk.3.attn_v.weight"));
                    Assert.Equal(GgmlType.Q6_K, Type("output.weight")); // llama.cpp gives the output Q6_K in every non-Q8_0 mix
                    Assert.Equal(GgmlType.Q4_0, Type("blk.0.odd32.weight"));
                    Assert.Equal(GgmlType.F16, Type("blk.0.odd.weight"));
                    break;
                case QuantizationPreset.Q8_0:
                    Assert.Equal(GgmlType.Q8_0, Type("output.weight"));
                    Assert.Equal(GgmlType.Q8_0, Type("blk.3.ffn_down.weight"));
                    break;
                case QuantizationPreset.F16:
                case QuantizationPreset.BF16:
                    var t = preset == QuantizationPreset.F16 ? GgmlType.F16 : GgmlType.BF16;
                    Assert.Equal(t, Type("output.weight"));
                    Assert.Equal(t, Type("blk.0.odd.weight"));
                    Assert.Equal(GgmlType.F32, Type("blk.0.attn_norm.weight"));
                    break;
            }
            // Every converted tensor dequantizes back close to the input.
            foreach (var o in output.Tensors.Where(o => o.Type != GgmlType.F32))
            {
                var x = MemoryMarshal.Cast<byte, float>(input.GetTensorBytes(input.GetTensor(o.Name)));
                var y = new float[x.Length];
                TensorFormat.For(o.Type).Dequantize(output.GetTensorBytes(o), y);
                double se = 0, ss = 0;
                for (int i = 0; i < x.Length; i++) { se += (double)(y[i] - x[i]) * (y[i] - x[i]); ss += (double)x[i] * x[i]; }
                Assert.True(Math.Sqrt(se / ss) < 0.15, $"{o.Name} ({o.Type}): relative rmse {Math.Sqrt(se / ss)}");
            }
        }
    }

    [Fact]
    public void Pure_UsesTheBaseTypeEverywhereButKeepsFallbacks()
    {
        var (input, output) = Run(QuantizationPreset.Q4_K_M, new QuantizationOptions { Pure = true });
        using (input)
        using (output)
        {
            Assert.All(output.Tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Dimensions.Count == 2 && t.Dimensions[1] > 1 && t.RowLength % 256 == 0),
                t => Assert.Equal(GgmlType.Q4_K, t.Type));
            Assert.Equal(GgmlType.Q4_K, output.GetTensor("output.weight").Type);
            Assert.Equal(GgmlType.Q5_0, output.GetTensor("blk.0.odd32.weight").Type);
            Assert.Equal(GgmlType.F16, output.GetTensor("blk.0.odd.weight").Type);
            Assert.Equal(GgmlType.F32, output.GetTensor("output_norm.weight").Type);
        }
    }

    [Fact]
    public void TiedEmbeddings_TokenEmbdIsTreatedAsTheOutput()
    {
        var (input, output) = Run(QuantizationPreset.Q4_K_M, tied: true);
        using (input)
        using (output)
        {
            Assert.Null(output.FindTensor("output.weight"));
            Assert.Equal(GgmlType.Q6_K, output.GetTensor("token_embd.weight").Type);
        }
    }

    [Fact]
    public void QuantizedInput_IsRefusedUnlessRequantizeIsAllowed_AndCopiedWhenUnchanged()
    {
        var first = Path.Combine(_dir, "q8.gguf");
        ModelQuantizer.Quantize(WriteModel(), first, QuantizationPreset.Q8_0);
        var again = Path.Combine(_dir, "q8-again.gguf");
        ModelQuantizer.Quantize(first, again, QuantizationPreset.Q8_0);
        using (var a = GgufFile.Open(first))
        using (var b = GgufFile.Open(again))
        {
            foreach (var t in a.Tensors) Assert.True(a.GetTensorBytes(t).SequenceEqual(b.GetTensorBytes(b.GetTensor(t.Name))), t.Name);
        }
        var e = Assert.Throws<InvalidOperationException>(() => ModelQuantizer.Quantize(first, Path.Combine(_dir, "x.gguf"), QuantizationPreset.Q4_0));
        Assert.Contains("Q8_0", e.Message);
        var requant = Path.Combine(_dir, "q4.gguf");
        ModelQuantizer.Quantize(first, requant, QuantizationPreset.Q4_0, new QuantizationOptions { AllowRequantize = true });
        using var q4 = GgufFile.Open(requant);
        Assert.Equal(GgmlType.Q4_0, q4.GetTensor("blk.1.attn_q.weight").Type);
    }

    [Fact]
    public void Cancellation_DeletesTheOutput()
    {
        var input = WriteModel();
        var output = Path.Combine(_dir, "cancelled.gguf");
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => ModelQuantizer.Quantize(input, output, QuantizationPreset.Q4_0, null, cts.Token));
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData(0, 8, true)]
    [InlineData(1, 8, false)]
    [InlineData(3, 8, true)]
    [InlineData(4, 8, false)]
    [InlineData(6, 8, true)]
    [InlineData(7, 8, true)]
    [InlineData(5, 32, false)]
    [InlineData(6, 32, true)]
    [InlineData(28, 32, true)]
    public void UseMoreBits_MatchesLlamaCpp(int layer, int layers, bool expected) =>
        Assert.Equal(expected, ModelQuantizer.UseMoreBits(layer, layers));
}
