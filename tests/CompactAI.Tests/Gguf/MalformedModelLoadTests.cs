using CompactAI.Gguf;
using CompactAI.Tokenization;

namespace CompactAI.Tests.Gguf;

/// <summary>
/// Well-formed GGUF files whose model metadata is wrong: each must be refused by <see cref="CompactModel.Load"/> with a
/// <see cref="GgufFormatException"/> naming the key, before anything fails later or anything large is allocated.
/// </summary>
public sealed class MalformedModelLoadTests
{
    /// <summary>stories260K rewritten with <paramref name="edit"/> applied to its metadata (tensors unchanged).</summary>
    internal static string RewrittenStories(Func<string, GgufValue, GgufValue?> edit, Action<GgufWriter>? extra = null) =>
        Rewritten(TestData.Stories260K, edit, extra);

    internal static string Rewritten(string source, Func<string, GgufValue, GgufValue?> edit, Action<GgufWriter>? extra = null)
    {
        string path = Path.Combine(Path.GetTempPath(), $"compactai-malformed-{Guid.NewGuid():N}.gguf");
        using var f = GgufFile.Open(source);
        var w = new GgufWriter(f.Alignment, f.Version);
        foreach (var (key, value) in f.Metadata)
        {
            if (key == GgufFile.AlignmentKey) continue;
            if (edit(key, value) is { } v) w.Add(key, v);
        }
        extra?.Invoke(w);
        foreach (var t in f.Tensors) w.AddTensor(t.Name, t.Type, t.Dimensions.ToArray(), f.GetTensorBytes(t).ToArray());
        w.WriteTo(path);
        return path;
    }

    private static GgufFormatException LoadRefused(string path)
    {
        try
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<GgufFormatException>(() => CompactModel.Load(path, new CompactModelOptions { Threads = 1 }).Dispose());
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            long bound = 8 * new FileInfo(path).Length;
            Assert.True(allocated < bound, $"the refused load allocated {allocated} bytes (bound {bound})");
            return e;
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("llama.attention.layer_norm_rms_epsilon", -1e-5f)]
    [InlineData("llama.attention.layer_norm_rms_epsilon", float.NaN)]
    [InlineData("llama.attention.layer_norm_rms_epsilon", float.PositiveInfinity)]
    [InlineData("llama.attention.layer_norm_epsilon", -1f)]
    [InlineData("llama.attention.layer_norm_epsilon", float.NaN)]
    public void ANegativeOrNaNNormEpsilonIsRefusedAtLoad(string key, float value)
    {
        // Regression: such a file loaded, and every generation then threw ArgumentOutOfRangeException from RmsNorm.
        string path = RewrittenStories((k, v) => k == key ? null : v, w => w.Add(key, value));
        var e = LoadRefused(path);
        Assert.Equal(key, e.Field);
    }

    [Theory]
    [InlineData(0x7FFFFFFF)]
    [InlineData(2_000_000_000)]
    [InlineData(6)] // one more than stories260K has: the count is plausible, the last block's tensors are missing
    public void ABlockCountTheTensorsCannotBackIsRefusedBeforeAllocating(int blocks)
    {
        // Regression: 0x7FFFFFFF threw OutOfMemoryException from new LayerWeights[count]; 2e9 reserved 16 GB first.
        string path = RewrittenStories((k, v) => k == "llama.block_count" ? new GgufValue(GgufValueType.UInt32, (uint)blocks) : v);
        var e = LoadRefused(path);
        Assert.Equal("llama.block_count", e.Field);
        Assert.Contains(blocks.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void AnEmptyMergeIsRefusedNamingItsIndex()
    {
        // Regression: BpeTokenizer's constructor threw ArgumentOutOfRangeException from merges[i].IndexOf(' ', 1).
        string path = Rewritten(TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"), (k, v) =>
        {
            if (k != "tokenizer.ggml.merges") return v;
            var merges = (string[])((string[])v.Value).Clone();
            merges[3] = "";
            return new GgufValue(GgufValueType.Array, merges, GgufValueType.String);
        });
        try
        {
            using var file = GgufFile.Open(path);
            var e = Assert.Throws<GgufFormatException>(() => ModelTokenizer.FromGguf(file));
            Assert.Equal("tokenizer.ggml.merges[3]", e.Field);
            Assert.Contains("entry 3", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
