using System.Security.Cryptography;
using CompactAI.Gguf;
using CompactAI.Tensors;

namespace CompactAI.Tests.Gguf;

/// <summary>
/// Reads the real stories260K model. The expected values were derived independently of our reader: a 40-line Python
/// script (struct.unpack over the raw bytes, following FACTS.md's GGUF layout) parsed the header once, and its output
/// is hard-coded here. Tensor offsets/sizes follow from dims × 4 bytes (all F32) and 32-byte alignment.
/// </summary>
public class Stories260KTests
{
    private const string Sha256 = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";

    // From the Python parse: version 3, 48 tensors, 19 KVs, header ends at 14152, data section at 14176, file 1185376 bytes.
    private const long FileLength = 1_185_376;
    private const long DataOffset = 14_176;

    private static readonly string[] ExpectedKeys =
    [
        "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.model",
        "general.architecture", "general.name", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id", "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id",
        "llama.context_length", "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
        "llama.attention.head_count_kv", "llama.block_count", "llama.rope.dimension_count",
        "llama.attention.layer_norm_rms_epsilon",
    ];

    /// <summary>(name, ne) in file order; every tensor is F32 and they are packed back to back.</summary>
    private static IEnumerable<(string Name, long[] Dims)> ExpectedTensors()
    {
        yield return ("token_embd.weight", [64, 512]);
        yield return ("output_norm.weight", [64]);
        yield return ("output.weight", [64, 512]);
        for (int i = 0; i < 5; i++)
        {
            yield return ($"blk.{i}.attn_q.weight", [64, 64]);
            yield return ($"blk.{i}.attn_k.weight", [64, 32]);
            yield return ($"blk.{i}.attn_v.weight", [64, 32]);
            yield return ($"blk.{i}.attn_output.weight", [64, 64]);
            yield return ($"blk.{i}.attn_norm.weight", [64]);
            yield return ($"blk.{i}.ffn_gate.weight", [64, 172]);
            yield return ($"blk.{i}.ffn_down.weight", [172, 64]);
            yield return ($"blk.{i}.ffn_up.weight", [64, 172]);
            yield return ($"blk.{i}.ffn_norm.weight", [64]);
        }
    }

    [Fact]
    public void TheFileIsTheOneDescribed()
    {
        using var s = File.OpenRead(TestData.Stories260K);
        Assert.Equal(Sha256, Convert.ToHexStringLower(SHA256.HashData(s)));
    }

    [Fact]
    public void Header_AndMetadata()
    {
        using var f = GgufFile.Open(TestData.Stories260K);
        Assert.Equal(Path.GetFullPath(TestData.Stories260K), f.FilePath);
        Assert.Equal(3u, f.Version);
        Assert.Equal(FileLength, f.Length);
        Assert.Equal(32, f.Alignment);
        Assert.Equal(DataOffset, f.DataOffset);
        Assert.Equal(ExpectedKeys, f.Metadata.Keys.ToArray());

        var m = f.Metadata;
        Assert.Equal("llama", m.GetString("general.architecture"));
        Assert.Equal("llama", m.GetString("general.name"));
        Assert.Equal("llama", m.GetString("tokenizer.ggml.model"));
        Assert.Equal(5u, m.GetUInt32("llama.block_count"));
        Assert.Equal(64u, m.GetUInt32("llama.embedding_length"));
        Assert.Equal(8u, m.GetUInt32("llama.attention.head_count"));
        Assert.Equal(4u, m.GetUInt32("llama.attention.head_count_kv"));
        Assert.Equal(2048u, m.GetUInt32("llama.context_length"));
        Assert.Equal(172u, m.GetUInt32("llama.feed_forward_length"));
        Assert.Equal(8u, m.GetUInt32("llama.rope.dimension_count"));
        Assert.Equal(0u, m.GetUInt32("tokenizer.ggml.unknown_token_id"));
        Assert.Equal(1u, m.GetUInt32("tokenizer.ggml.bos_token_id"));
        Assert.Equal(2u, m.GetUInt32("tokenizer.ggml.eos_token_id"));
        Assert.Equal(uint.MaxValue, m.GetUInt32("tokenizer.ggml.padding_token_id"));
        Assert.Equal(GgufValueType.UInt32, m["llama.block_count"].Type);
        // f32 bits of 1e-5 as the file stores it (Python printed 9.999999747378752e-06).
        Assert.Equal(1e-5f, m.GetFloat32("llama.attention.layer_norm_rms_epsilon"));

        var tokens = m.GetArray<string>("tokenizer.ggml.tokens");
        Assert.Equal(512, tokens.Length);
        Assert.Equal(["<unk>", "<s>", "</s>"], tokens[..3]);
        Assert.Equal(GgufValueType.String, m["tokenizer.ggml.tokens"].ElementType);
        var scores = m.GetArray<float>("tokenizer.ggml.scores");
        Assert.Equal(512, scores.Length);
        Assert.Equal(GgufValueType.Float32, m["tokenizer.ggml.scores"].ElementType);
        var types = m.GetArray<int>("tokenizer.ggml.token_type");
        Assert.Equal(512, types.Length);
        Assert.Equal(GgufValueType.Int32, m["tokenizer.ggml.token_type"].ElementType);
        Assert.Equal([2, 3, 3], types[..3]); // unknown, control, control (FACTS.md token types)
    }

    [Fact]
    public void Tensors_NamesTypesDimsOffsets()
    {
        using var f = GgufFile.Open(TestData.Stories260K);
        var expected = ExpectedTensors().ToArray();
        Assert.Equal(48, expected.Length);
        Assert.Equal(expected.Length, f.Tensors.Count);
        long offset = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            var (name, dims) = expected[i];
            var t = f.Tensors[i];
            Assert.Equal(name, t.Name);
            Assert.Equal(GgmlType.F32, t.Type);
            Assert.Equal(dims, t.Dimensions);
            long elements = dims.Aggregate(1L, (a, b) => a * b);
            Assert.Equal(elements, t.ElementCount);
            Assert.Equal(elements * 4, t.ByteCount);
            Assert.Equal(offset, t.DataOffset);
            Assert.Equal(DataOffset + offset, t.FileOffset);
            Assert.Same(t, f.GetTensor(name));
            offset = (offset + elements * 4 + 31) / 32 * 32;
        }
        // Spot checks from the Python parse: blk.0.attn_q at 262400, blk.4.ffn_norm at 1170944; the data ends at the file end.
        Assert.Equal(262_400, f.GetTensor("blk.0.attn_q.weight").DataOffset);
        Assert.Equal(1_170_944, f.GetTensor("blk.4.ffn_norm.weight").DataOffset);
        Assert.Equal(FileLength, DataOffset + offset);
        Assert.Null(f.FindTensor("rope_freqs.weight"));
        var ex = Assert.Throws<GgufFormatException>(() => f.GetTensor("rope_freqs.weight"));
        Assert.Equal("rope_freqs.weight", ex.Field);
    }

    [Fact]
    public void TensorBytes_AreTheFileBytes()
    {
        using var f = GgufFile.Open(TestData.Stories260K);
        // First three floats of token_embd and the last float of the file, read by the Python script.
        var embd = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(f.GetTensorBytes(f.GetTensor("token_embd.weight")));
        Assert.Equal([0xbe96e950u, 0x3f0fd864u, 0x3e33a1f7u], embd[..3].ToArray());
        var norm = f.GetTensorBytes(f.GetTensor("blk.4.ffn_norm.weight"));
        Assert.Equal(0x3f9dfc45u, BitConverter.ToUInt32(norm[^4..]));

        var file = File.ReadAllBytes(TestData.Stories260K);
        foreach (var t in f.Tensors)
            Assert.True(file.AsSpan((int)t.FileOffset, (int)t.ByteCount).SequenceEqual(f.GetTensorBytes(t)), t.Name);
    }

    [Fact]
    public void FromBytes_ParsesTheSameAsOpen()
    {
        using var mapped = GgufFile.Open(TestData.Stories260K);
        using var inMemory = GgufFile.FromBytes(File.ReadAllBytes(TestData.Stories260K));
        Assert.Null(inMemory.FilePath);
        Assert.Equal(mapped.DataOffset, inMemory.DataOffset);
        Assert.Equal(mapped.Metadata.Keys, inMemory.Metadata.Keys);
        foreach (var (k, v) in mapped.Metadata) GgufTestHelpers.AssertSameValue(v, inMemory.Metadata[k], k);
        Assert.Equal(mapped.Tensors.Select(t => t.ToString()), inMemory.Tensors.Select(t => t.ToString()));
    }
}
