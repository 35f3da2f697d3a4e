using System.Security.Cryptography;
using System.Text.Json;
using CompactAI.Gguf;
using CompactAI.Tensors.Quantization;

namespace CompactAI.Tests.Tensors;

/// <summary>
/// Whole-file parity with llama.cpp's <c>llama-quantize</c>: a deterministic synthetic llama model (<see cref="SyntheticModel"/>)
/// is quantized with every preset, with and without <c>--pure</c>, and the SHA-256 of our output file must equal that of
/// llama-quantize's (recorded in <c>Goldens/llama-quantize-synthetic.json</c> by
/// <c>Goldens/reference/make-llama-quantize-goldens.sh</c>). Equal hashes mean the same metadata, tensor order, per-tensor type
/// choices and quantized bytes.
/// </summary>
public sealed class LlamaQuantizeParityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("compactai-parity-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Lazy<JsonElement> s_golden = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Goldens", "llama-quantize-synthetic.json"))).RootElement);

    private static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    public static TheoryData<QuantizationPreset, bool> Cases()
    {
        var data = new TheoryData<QuantizationPreset, bool>();
        foreach (var p in Enum.GetValues<QuantizationPreset>())
        {
            data.Add(p, true);
            data.Add(p, false);
        }
        return data;
    }

    [Fact]
    public void SyntheticModel_IsTheOneTheGoldensWereMadeFrom()
    {
        var path = Path.Combine(_dir, SyntheticModel.FileName);
        SyntheticModel.Write(path);
        // make-llama-quantize-goldens.sh sets this to get the model it feeds to llama-quantize.
        var export = Environment.GetEnvironmentVariable("COMPACTAI_EXPORT_SYNTHETIC_MODEL");
        if (!string.IsNullOrEmpty(export)) File.Copy(path, export, overwrite: true);
        Assert.Equal(s_golden.Value.GetProperty("model_sha256").GetString(), Sha256(path));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Quantize_ProducesTheSameFileAsLlamaQuantize(QuantizationPreset preset, bool pure)
    {
        var input = Path.Combine(_dir, SyntheticModel.FileName);
        SyntheticModel.Write(input);
        var output = Path.Combine(_dir, $"{preset}-{(pure ? "pure" : "mix")}.gguf");
        ModelQuantizer.Quantize(input, output, preset, new QuantizationOptions { Pure = pure, MaxDegreeOfParallelism = 2 });
        var expected = s_golden.Value.GetProperty("outputs").GetProperty(preset.ToString()).GetProperty(pure ? "pure" : "mix").GetString();
        Assert.Equal(expected, Sha256(output));
    }
}

/// <summary>
/// A small llama-architecture F32 model built from integer arithmetic only (so it is bit-identical on every platform): 8 layers,
/// embedding 256, GQA attention, SwiGLU FFN of 512, vocabulary 32, few rows per matrix (the mix rules read names, layers and row
/// lengths, not row counts), plus tensors whose row lengths (96, 40) exercise the block-size fallbacks.
/// </summary>
public static class SyntheticModel
{
    /// <summary>The file name used for the model.</summary>
    public const string FileName = "synthetic-llama-f32.gguf";

    private const int Layers = 8, Embd = 256, Ffn = 512, Vocab = 32, Rows = 16;

    /// <summary>Writes the model to <paramref name="path"/>.</summary>
    public static void Write(string path)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Add("general.name", "synthetic");
        w.Add("general.file_type", 0u);
        w.Add("llama.context_length", 128u);
        w.Add("llama.embedding_length", (uint)Embd);
        w.Add("llama.feed_forward_length", (uint)Ffn);
        w.Add("llama.block_count", (uint)Layers);
        w.Add("llama.attention.head_count", 4u);
        w.Add("llama.attention.head_count_kv", 2u);
        w.Add("llama.rope.dimension_count", 64u);
        w.Add("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.Add("tokenizer.ggml.model", "llama");
        w.Add("tokenizer.ggml.tokens", Enumerable.Range(0, Vocab).Select(i => i switch { 0 => "<unk>", 1 => "<s>", 2 => "</s>", _ => $"\u2581t{i}" }).ToArray());
        w.Add("tokenizer.ggml.scores", Enumerable.Range(0, Vocab).Select(i => (float)-i).ToArray());
        w.Add("tokenizer.ggml.token_type", Enumerable.Range(0, Vocab).Select(i => i == 0 ? 2 : i < 3 ? 3 : 1).ToArray());
        uint state = 0x12345678;
        void Add(string name, params long[] dims)
        {
            long n = dims.Aggregate(1L, (a, b) => a * b);
            var x = new float[n];
            bool norm = name.Contains("norm", StringComparison.Ordinal);
            for (long i = 0; i < n; i++)
            {
                // Sum of four 12-bit uniforms ≈ Gaussian; exact in float. Every 97th weight is an outlier, every 61st block of
                // 32 is zero, so the quantizers meet the edge cases too.
                int s = 0;
                for (int k = 0; k < 4; k++)
                {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    s += (int)(state & 0xFFF) - 2048;
                }
                float v = s * (1f / 65536f);
                if (i % 97 == 13) v *= 8;
                if ((i / 32) % 61 == 7) v = 0;
                x[i] = norm ? 1 + v : v * 0.25f;
            }
            w.AddTensor(name, dims, x);
        }
        Add("token_embd.weight", Embd, Vocab);
        Add("output_norm.weight", Embd);
        Add("output.weight", Embd, Vocab);
        for (int i = 0; i < Layers; i++)
        {
            Add($"blk.{i}.attn_norm.weight", Embd);
            Add($"blk.{i}.attn_q.weight", Embd, Rows);
            Add($"blk.{i}.attn_k.weight", Embd, Rows);
            Add($"blk.{i}.attn_v.weight", Embd, Rows);
            Add($"blk.{i}.attn_output.weight", Embd, Rows);
            Add($"blk.{i}.ffn_norm.weight", Embd);
            Add($"blk.{i}.ffn_gate.weight", Embd, Rows);
            Add($"blk.{i}.ffn_up.weight", Embd, Rows);
            Add($"blk.{i}.ffn_down.weight", Ffn, Rows);
        }
        Add("blk.0.extra_96.weight", 96, 4);
        Add("blk.0.extra_40.weight", 40, 4);
        w.WriteTo(path);
    }
}
